//! Replies read from the wire into a [`Record`]: the present fields of each message in plan
//! order, strings and bytes borrowed from the reply, the well-known types decoded as their Rust
//! types. No `DynamicMessage`, no descriptor lookups, few allocations.
//!
//! A `Record` is a `prost::Message` whose `merge_field` does, field for field, what the
//! prost-generated `merge_field` of the same message does, through the same
//! `prost::encoding` functions: the same wire-type checks, the same recursion limit, packed or
//! unpacked repeated scalars, a later value of a singular field replacing the earlier one (and
//! a later occurrence of a message merging into it), oneof members replacing each other, map
//! entries with missing keys or values. So a reply the compiled codec decodes is read here to
//! the same values, and one it refuses is refused.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use bytes::{Buf, BufMut};
use prost::DecodeError;
use prost::encoding::{
    self, DecodeContext, WireType, check_wire_type, decode_varint, hash_map, merge_loop, skip_field,
};

use super::plan::{Element, MessageId, Plans, Scalar, Shape, Wire, Wkt};

/// The fields of one message present in a reply.
pub struct Record<'a> {
    pub reader: &'a Reader<'a>,
    id: u32,
    /// `(index in the plan's fields, value)`, sorted by index: pbjson's writing order.
    pub fields: Vec<(u32, Slot<'a>)>,
}

pub enum Slot<'a> {
    One(Item<'a>),
    List(Vec<Item<'a>>),
    Map(Box<Entries<'a>>),
}

/// One value.
pub enum Item<'a> {
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Enum(i32),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Message(Record<'a>),
    /// Timestamps are common and small: kept inline.
    Timestamp(crate::wkt::Timestamp),
    Known(Box<Known>),
}

/// The entries of a map, keyed as prost keys them (a later entry replaces an earlier one).
pub enum Entries<'a> {
    Str(HashMap<Cow<'a, str>, Item<'a>>),
    Bool(HashMap<bool, Item<'a>>),
    I32(HashMap<i32, Item<'a>>),
    I64(HashMap<i64, Item<'a>>),
    U32(HashMap<u32, Item<'a>>),
    U64(HashMap<u64, Item<'a>>),
}

/// A well-known type, decoded as the Rust type the compiled codec decodes it as.
pub enum Known {
    Timestamp(crate::wkt::Timestamp),
    Duration(pbjson_types::Duration),
    FieldMask(crate::wkt::FieldMask),
    Struct(pbjson_types::Struct),
    Value(pbjson_types::Value),
    ListValue(pbjson_types::ListValue),
    Double(pbjson_types::DoubleValue),
    Float(pbjson_types::FloatValue),
    Int64(pbjson_types::Int64Value),
    Uint64(pbjson_types::UInt64Value),
    Int32(pbjson_types::Int32Value),
    Uint32(pbjson_types::UInt32Value),
    Bool(pbjson_types::BoolValue),
    String(pbjson_types::StringValue),
    Bytes(pbjson_types::BytesValue),
}

impl Known {
    pub fn default_of(wkt: Wkt) -> Known {
        match wkt {
            Wkt::Timestamp => Known::Timestamp(Default::default()),
            Wkt::Duration => Known::Duration(Default::default()),
            Wkt::FieldMask => Known::FieldMask(Default::default()),
            Wkt::Struct => Known::Struct(Default::default()),
            Wkt::Value => Known::Value(Default::default()),
            Wkt::ListValue => Known::ListValue(Default::default()),
            Wkt::Wrapper(Scalar::Double) => Known::Double(Default::default()),
            Wkt::Wrapper(Scalar::Float) => Known::Float(Default::default()),
            Wkt::Wrapper(Scalar::Int64) => Known::Int64(Default::default()),
            Wkt::Wrapper(Scalar::Uint64) => Known::Uint64(Default::default()),
            Wkt::Wrapper(Scalar::Int32) => Known::Int32(Default::default()),
            Wkt::Wrapper(Scalar::Uint32) => Known::Uint32(Default::default()),
            Wkt::Wrapper(Scalar::Bool) => Known::Bool(Default::default()),
            Wkt::Wrapper(Scalar::String) => Known::String(Default::default()),
            Wkt::Wrapper(Scalar::Bytes) => Known::Bytes(Default::default()),
        }
    }

    /// A whole reply of a well-known type, as `Message::decode` reads it.
    pub fn decode(wkt: Wkt, source: &[u8]) -> Result<Known, DecodeError> {
        use prost::Message;
        let mut known = Known::default_of(wkt);
        match &mut known {
            Known::Timestamp(v) => v.merge(source),
            Known::Duration(v) => v.merge(source),
            Known::FieldMask(v) => v.merge(source),
            Known::Struct(v) => v.merge(source),
            Known::Value(v) => v.merge(source),
            Known::ListValue(v) => v.merge(source),
            Known::Double(v) => v.merge(source),
            Known::Float(v) => v.merge(source),
            Known::Int64(v) => v.merge(source),
            Known::Uint64(v) => v.merge(source),
            Known::Int32(v) => v.merge(source),
            Known::Uint32(v) => v.merge(source),
            Known::Bool(v) => v.merge(source),
            Known::String(v) => v.merge(source),
            Known::Bytes(v) => v.merge(source),
        }?;
        Ok(known)
    }

    /// `prost::encoding::message::merge` into the typed value.
    fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        use encoding::message::merge;
        match self {
            Known::Timestamp(v) => merge(wire_type, v, buf, ctx),
            Known::Duration(v) => merge(wire_type, v, buf, ctx),
            Known::FieldMask(v) => merge(wire_type, v, buf, ctx),
            Known::Struct(v) => merge(wire_type, v, buf, ctx),
            Known::Value(v) => merge(wire_type, v, buf, ctx),
            Known::ListValue(v) => merge(wire_type, v, buf, ctx),
            Known::Double(v) => merge(wire_type, v, buf, ctx),
            Known::Float(v) => merge(wire_type, v, buf, ctx),
            Known::Int64(v) => merge(wire_type, v, buf, ctx),
            Known::Uint64(v) => merge(wire_type, v, buf, ctx),
            Known::Int32(v) => merge(wire_type, v, buf, ctx),
            Known::Uint32(v) => merge(wire_type, v, buf, ctx),
            Known::Bool(v) => merge(wire_type, v, buf, ctx),
            Known::String(v) => merge(wire_type, v, buf, ctx),
            Known::Bytes(v) => merge(wire_type, v, buf, ctx),
        }
    }
}

impl<'a> Record<'a> {
    pub fn new(reader: &'a Reader<'a>, id: MessageId) -> Record<'a> {
        Record {
            reader,
            id: id as u32,
            fields: Vec::new(),
        }
    }

    /// Reads the whole encoded message `reader` holds, as `Message::decode` would.
    pub fn decode(reader: &'a Reader<'a>, id: MessageId) -> Result<Self, DecodeError> {
        let mut record = Record::new(reader, id);
        prost::Message::merge(&mut record, reader.source)?;
        Ok(record)
    }

    pub fn id(&self) -> MessageId {
        self.id as MessageId
    }

    pub fn plans(&self) -> &'a Plans {
        self.reader.plans
    }

    fn position(&self, index: usize) -> Result<usize, usize> {
        let index = index as u32;
        // Fields mostly arrive in plan order: try the end first.
        match self.fields.last() {
            None => Err(0),
            Some(last) if last.0 < index => Err(self.fields.len()),
            _ => self.fields.binary_search_by_key(&index, |f| f.0),
        }
    }

    pub fn get(&self, index: usize) -> Option<&Slot<'a>> {
        let at = self.position(index).ok()?;
        Some(&self.fields[at].1)
    }

    fn get_mut(&mut self, index: usize) -> Option<&mut Slot<'a>> {
        let at = self.position(index).ok()?;
        Some(&mut self.fields[at].1)
    }

    /// The slot of `index`, made with `make` when absent.
    fn slot(&mut self, index: usize, make: impl FnOnce() -> Slot<'a>) -> &mut Slot<'a> {
        let at = match self.position(index) {
            Ok(at) => at,
            Err(at) => {
                if self.fields.capacity() == 0 {
                    let fields = self.reader.plans.message(self.id()).fields.len();
                    self.fields.reserve(fields.min(8));
                }
                self.fields.insert(at, (index as u32, make()));
                at
            }
        };
        &mut self.fields[at].1
    }
}

/// What decoding needs besides the buffer: the plans, and the reply strings borrow from.
pub struct Reader<'a> {
    pub plans: &'a Plans,
    pub source: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The empty value of an element, as prost's `Default` makes it.
    fn empty(&'a self, wire: Wire, element: Element) -> Item<'a> {
        match (wire, element) {
            (Wire::Message | Wire::Group, Element::Message(id)) => {
                match self.plans.message(id).wkt {
                    Some(Wkt::Timestamp) => Item::Timestamp(Default::default()),
                    Some(wkt) => Item::Known(Box::new(Known::default_of(wkt))),
                    None => Item::Message(Record::new(self, id)),
                }
            }
            (Wire::Double, _) => Item::F64(0.0),
            (Wire::Float, _) => Item::F32(0.0),
            (Wire::Int32 | Wire::Sint32 | Wire::Sfixed32, _) => Item::I32(0),
            (Wire::Int64 | Wire::Sint64 | Wire::Sfixed64, _) => Item::I64(0),
            (Wire::Uint32 | Wire::Fixed32, _) => Item::U32(0),
            (Wire::Uint64 | Wire::Fixed64, _) => Item::U64(0),
            (Wire::Bool, _) => Item::Bool(false),
            (Wire::String, _) => Item::Str(Cow::Borrowed("")),
            (Wire::Bytes, _) => Item::Bytes(Cow::Borrowed(&[])),
            _ => Item::Enum(0),
        }
    }

    /// `prost::encoding::<type>::merge` of one value into `item`.
    fn merge(
        &'a self,
        wire: Wire,
        tag: u32,
        item: &mut Item<'a>,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        macro_rules! scalar {
            ($module:ident, $variant:ident) => {{
                let mut value = Default::default();
                encoding::$module::merge(wire_type, &mut value, buf, ctx)?;
                *item = Item::$variant(value);
                Ok(())
            }};
        }
        match wire {
            Wire::Double => scalar!(double, F64),
            Wire::Float => scalar!(float, F32),
            Wire::Int32 => scalar!(int32, I32),
            Wire::Int64 => scalar!(int64, I64),
            Wire::Uint32 => scalar!(uint32, U32),
            Wire::Uint64 => scalar!(uint64, U64),
            Wire::Sint32 => scalar!(sint32, I32),
            Wire::Sint64 => scalar!(sint64, I64),
            Wire::Fixed32 => scalar!(fixed32, U32),
            Wire::Fixed64 => scalar!(fixed64, U64),
            Wire::Sfixed32 => scalar!(sfixed32, I32),
            Wire::Sfixed64 => scalar!(sfixed64, I64),
            Wire::Bool => scalar!(bool, Bool),
            Wire::Enum => scalar!(int32, Enum),
            Wire::String => {
                *item = Item::Str(self.string(wire_type, buf, ctx)?);
                Ok(())
            }
            Wire::Bytes => {
                *item = Item::Bytes(self.bytes(wire_type, buf, ctx)?);
                Ok(())
            }
            Wire::Message => match item {
                Item::Message(record) => encoding::message::merge(wire_type, record, buf, ctx),
                Item::Timestamp(time) => encoding::message::merge(wire_type, time, buf, ctx),
                Item::Known(known) => known.merge(wire_type, buf, ctx),
                _ => encoding::skip_field(wire_type, tag, buf, ctx),
            },
            Wire::Group => match item {
                Item::Message(record) => encoding::group::merge(tag, wire_type, record, buf, ctx),
                _ => encoding::skip_field(wire_type, tag, buf, ctx),
            },
        }
    }

    /// The bytes of a length-delimited value, borrowed from the reply; `None` when the
    /// value is not whole (prost then says why).
    fn peek(&self, buf: &impl Buf) -> Option<(&'a [u8], usize)> {
        let mut chunk = buf.chunk();
        let len = usize::try_from(decode_varint(&mut chunk).ok()?).ok()?;
        let value = chunk.get(..len)?;
        // The buffer is always the tail of the reply (prost passes it down as it is).
        let at = self.source.len().checked_sub(buf.remaining())?;
        let start = at + (buf.chunk().len() - chunk.len());
        let borrowed = self.source.get(start..start + len)?;
        (borrowed.as_ptr() == value.as_ptr()).then_some((borrowed, start + len - at))
    }

    /// `prost::encoding::string::merge`, without the copy.
    fn string(
        &self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<Cow<'a, str>, DecodeError> {
        if wire_type == WireType::LengthDelimited
            && let Some((bytes, used)) = self.peek(buf)
            && let Ok(text) = std::str::from_utf8(bytes)
        {
            buf.advance(used);
            return Ok(Cow::Borrowed(text));
        }
        // Whatever is wrong, in prost's words.
        let mut owned = String::new();
        encoding::string::merge(wire_type, &mut owned, buf, ctx)?;
        Ok(Cow::Owned(owned))
    }

    /// `prost::encoding::bytes::merge`, without the copy.
    fn bytes(
        &self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<Cow<'a, [u8]>, DecodeError> {
        if wire_type == WireType::LengthDelimited
            && let Some((bytes, used)) = self.peek(buf)
        {
            buf.advance(used);
            return Ok(Cow::Borrowed(bytes));
        }
        let mut owned = Vec::new();
        encoding::bytes::merge(wire_type, &mut owned, buf, ctx)?;
        Ok(Cow::Owned(owned))
    }
}

/// The wire type of one element of a packable repeated field.
fn packed_element(wire: Wire) -> Option<WireType> {
    Some(match wire {
        Wire::Double | Wire::Fixed64 | Wire::Sfixed64 => WireType::SixtyFourBit,
        Wire::Float | Wire::Fixed32 | Wire::Sfixed32 => WireType::ThirtyTwoBit,
        Wire::Int32
        | Wire::Int64
        | Wire::Uint32
        | Wire::Uint64
        | Wire::Sint32
        | Wire::Sint64
        | Wire::Bool
        | Wire::Enum => WireType::Varint,
        Wire::String | Wire::Bytes | Wire::Message | Wire::Group => return None,
    })
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field(
                "message",
                &self.plans().message(self.id()).descriptor.full_name(),
            )
            .field("fields", &self.fields.len())
            .finish()
    }
}

impl prost::Message for Record<'_> {
    fn encode_raw(&self, _buf: &mut impl BufMut) {
        // Read only: replies are never encoded again.
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let reader = self.reader;
        let plan = reader.plans.message(self.id());
        let Some(index) = plan.field_index(tag) else {
            return skip_field(wire_type, tag, buf, ctx);
        };
        let field = &plan.fields[index];
        let (wire, element) = (field.wire, field.element);
        match field.shape {
            Shape::Repeated => {
                let Slot::List(items) = self.slot(index, || Slot::List(Vec::new())) else {
                    return skip_field(wire_type, tag, buf, ctx);
                };
                match packed_element(wire) {
                    // Packed: `merge_loop` over the elements, as `merge_repeated` does.
                    Some(element_type) if wire_type == WireType::LengthDelimited => {
                        merge_loop(items, buf, ctx, |items, buf, ctx| {
                            let mut item = reader.empty(wire, element);
                            reader.merge(wire, tag, &mut item, element_type, buf, ctx)?;
                            items.push(item);
                            Ok(())
                        })
                    }
                    expected => {
                        let expected = match wire {
                            Wire::Group => WireType::StartGroup,
                            _ => expected.unwrap_or(WireType::LengthDelimited),
                        };
                        check_wire_type(expected, wire_type)?;
                        let mut item = reader.empty(wire, element);
                        reader.merge(wire, tag, &mut item, wire_type, buf, ctx)?;
                        items.push(item);
                        Ok(())
                    }
                }
            }
            Shape::Map { .. } => {
                let key_wire = field.key_wire;
                let slot = self.slot(index, || Slot::Map(Box::new(Entries::of(key_wire))));
                let Slot::Map(entries) = slot else {
                    return skip_field(wire_type, tag, buf, ctx);
                };
                entries.merge(reader, key_wire, wire, element, buf, ctx)
            }
            Shape::Oneof => {
                let members = field
                    .oneof
                    .map(|o| plan.oneofs[o].members.as_slice())
                    .unwrap_or_default();
                let current = members.iter().copied().find(|&m| self.get(m).is_some());
                if current == Some(index)
                    && let Some(Slot::One(item)) = self.get_mut(index)
                {
                    // The same member: merged into, as the generated oneof merge does.
                    return reader.merge(wire, tag, item, wire_type, buf, ctx);
                }
                // None, or another member: a fresh value replaces it once read.
                let mut item = reader.empty(wire, element);
                reader.merge(wire, tag, &mut item, wire_type, buf, ctx)?;
                if let Some(member) = current
                    && let Ok(at) = self.position(member)
                {
                    self.fields.remove(at);
                }
                *self.slot(index, || Slot::List(Vec::new())) = Slot::One(item);
                Ok(())
            }
            Shape::Implicit | Shape::Explicit | Shape::Required => {
                let slot = self.slot(index, || Slot::One(reader.empty(wire, element)));
                let Slot::One(item) = slot else {
                    return skip_field(wire_type, tag, buf, ctx);
                };
                reader.merge(wire, tag, item, wire_type, buf, ctx)
            }
        }
    }

    fn encoded_len(&self) -> usize {
        0
    }

    fn clear(&mut self) {
        self.fields.clear();
    }
}

impl<'a> Entries<'a> {
    fn of(key: Wire) -> Entries<'a> {
        match key {
            Wire::Bool => Entries::Bool(HashMap::new()),
            Wire::Int32 | Wire::Sint32 | Wire::Sfixed32 => Entries::I32(HashMap::new()),
            Wire::Int64 | Wire::Sint64 | Wire::Sfixed64 => Entries::I64(HashMap::new()),
            Wire::Uint32 | Wire::Fixed32 => Entries::U32(HashMap::new()),
            Wire::Uint64 | Wire::Fixed64 => Entries::U64(HashMap::new()),
            _ => Entries::Str(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Entries::Str(m) => m.len(),
            Entries::Bool(m) => m.len(),
            Entries::I32(m) => m.len(),
            Entries::I64(m) => m.len(),
            Entries::U32(m) => m.len(),
            Entries::U64(m) => m.len(),
        }
    }

    /// One entry, by `prost::encoding::hash_map::merge_with_default` itself.
    fn merge<B: Buf>(
        &mut self,
        reader: &'a Reader<'a>,
        key: Wire,
        value: Wire,
        element: Element,
        buf: &mut B,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let default = reader.empty(value, element);
        let merge_value = |wire_type: WireType, item: &mut Item<'a>, buf: &mut B, ctx| {
            reader.merge(value, 2, item, wire_type, buf, ctx)
        };
        macro_rules! keyed {
            ($map:expr, $key_merge:expr) => {
                hash_map::merge_with_default($key_merge, merge_value, default, $map, buf, ctx)
            };
        }
        match (self, key) {
            (Entries::Str(map), _) => {
                keyed!(map, |wire_type, k: &mut Cow<'a, str>, buf: &mut B, ctx| {
                    *k = reader.string(wire_type, buf, ctx)?;
                    Ok(())
                })
            }
            (Entries::Bool(map), _) => keyed!(map, encoding::bool::merge),
            (Entries::I32(map), Wire::Sint32) => keyed!(map, encoding::sint32::merge),
            (Entries::I32(map), Wire::Sfixed32) => keyed!(map, encoding::sfixed32::merge),
            (Entries::I32(map), _) => keyed!(map, encoding::int32::merge),
            (Entries::I64(map), Wire::Sint64) => keyed!(map, encoding::sint64::merge),
            (Entries::I64(map), Wire::Sfixed64) => keyed!(map, encoding::sfixed64::merge),
            (Entries::I64(map), _) => keyed!(map, encoding::int64::merge),
            (Entries::U32(map), Wire::Fixed32) => keyed!(map, encoding::fixed32::merge),
            (Entries::U32(map), _) => keyed!(map, encoding::uint32::merge),
            (Entries::U64(map), Wire::Fixed64) => keyed!(map, encoding::fixed64::merge),
            (Entries::U64(map), _) => keyed!(map, encoding::uint64::merge),
        }
    }
}
