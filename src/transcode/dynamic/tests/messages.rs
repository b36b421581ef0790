//! Rich messages of any type: every field set, values picked among edge cases.

use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, Value};

/// A message with every field set (one member of each oneof, chosen by `seed`), values
/// chosen by `seed` among edge cases, messages nested `depth` deep, `entries` per map.
pub fn rich(
    message: &MessageDescriptor,
    seed: usize,
    depth: usize,
    entries: usize,
) -> DynamicMessage {
    if let Some(known) = rich_well_known(message, seed, depth, entries) {
        return known;
    }
    let mut out = DynamicMessage::new(message.clone());
    for field in message.fields() {
        if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
            let members: Vec<_> = oneof.fields().collect();
            if members[seed % members.len()].number() != field.number() {
                continue;
            }
        }
        let value = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                unreachable!()
            };
            let key_kind = entry.map_entry_key_field().kind();
            let value_kind = entry.map_entry_value_field().kind();
            let map = (0..entries)
                .filter_map(|i| {
                    let value = element(&value_kind, seed + i, depth, entries)?;
                    Some((map_key(&key_kind, seed + i), value))
                })
                .collect();
            Some(Value::Map(map))
        } else if field.is_list() {
            let items: Vec<Value> = (0..2)
                .filter_map(|i| element(&field.kind(), seed + i, depth, entries))
                .collect();
            Some(Value::List(items))
        } else {
            element(&field.kind(), seed, depth, entries)
        };
        if let Some(value) = value {
            out.set_field(&field, value);
        }
    }
    out
}

fn map_key(kind: &Kind, seed: usize) -> MapKey {
    match kind {
        Kind::Bool => MapKey::Bool(seed.is_multiple_of(2)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(-(seed as i32)),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(i64::MIN + seed as i64),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(seed as u32),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(u64::MAX - seed as u64),
        _ => MapKey::String(format!("k{seed} \"é\"")),
    }
}

fn pick<T: Copy>(options: &[T], seed: usize) -> T {
    options[seed % options.len()]
}

fn element(kind: &Kind, seed: usize, depth: usize, entries: usize) -> Option<Value> {
    Some(match kind {
        Kind::Double => Value::F64(pick(
            &[
                0.5,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -1e300,
                1.0 / 3.0,
                -0.0,
            ],
            seed,
        )),
        Kind::Float => Value::F32(pick(
            &[
                0.5,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                1e-7,
                3.4e38,
                0.1,
            ],
            seed,
        )),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(pick(&[-7, i32::MAX, i32::MIN, 1], seed))
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(pick(&[i64::MIN, i64::MAX, -1, 9_007_199_254_740_993], seed))
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(pick(&[u32::MAX, 7], seed)),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(pick(&[u64::MAX, 1], seed)),
        Kind::Bool => Value::Bool(true),
        Kind::String => Value::String(
            pick(
                &["héllo \"q\"\n<tag>&\u{1F600}\u{7f}\u{2028}\\", "x", ""],
                seed,
            )
            .into(),
        ),
        Kind::Bytes => Value::Bytes(bytes::Bytes::from_static(
            &[0xfb, 0xff, 0, 1, 2][..1 + seed % 5],
        )),
        Kind::Enum(e) => {
            let numbers: Vec<i32> = e.values().map(|v| v.number()).collect();
            Value::EnumNumber(match seed % 3 {
                0 => *numbers.last().unwrap_or(&0),
                1 => numbers[numbers.len() / 2],
                // A number the schema does not name.
                _ => 42,
            })
        }
        Kind::Message(m) => {
            let well_known = m.full_name().starts_with("google.protobuf.");
            if depth == 0 && !well_known {
                return None;
            }
            Value::Message(rich(m, seed, depth.saturating_sub(1), entries))
        }
    })
}

fn rich_well_known(
    message: &MessageDescriptor,
    seed: usize,
    depth: usize,
    entries: usize,
) -> Option<DynamicMessage> {
    let mut out = DynamicMessage::new(message.clone());
    let mut set = |number: u32, value: Value| out.set_field_by_number(number, value);
    match message.full_name() {
        "google.protobuf.Timestamp" => {
            set(
                1,
                Value::I64(pick(&[1_700_000_000, -1, 0, 253_402_300_799], seed)),
            );
            set(2, Value::I32(pick(&[0, 500_000_000, 123_456_000, 7], seed)));
        }
        "google.protobuf.Duration" => {
            let (seconds, nanos) = pick(
                &[
                    (3, 250_000_000),
                    (-3, -5000),
                    (0, -1),
                    (0, 0),
                    (315_576_000_000, 999_999_999),
                ],
                seed,
            );
            set(1, Value::I64(seconds));
            set(2, Value::I32(nanos));
        }
        "google.protobuf.FieldMask" => set(
            1,
            Value::List(vec![
                Value::String("display_name".into()),
                Value::String("address.zip_code".into()),
            ]),
        ),
        "google.protobuf.Struct" => {
            let value = message.get_field(1)?;
            let Kind::Message(entry) = value.kind() else {
                return None;
            };
            let value_type = entry.map_entry_value_field().kind();
            let Kind::Message(value_type) = value_type else {
                return None;
            };
            let map = (0..entries)
                .map(|i| {
                    let v = rich(&value_type, seed + i, depth.saturating_sub(1), entries);
                    (
                        MapKey::String(format!("key {}", seed + i)),
                        Value::Message(v),
                    )
                })
                .collect();
            set(1, Value::Map(map));
        }
        "google.protobuf.ListValue" => {
            let Kind::Message(value_type) = message.get_field(1)?.kind() else {
                return None;
            };
            let items = (0..2)
                .map(|i| {
                    Value::Message(rich(
                        &value_type,
                        seed + i,
                        depth.saturating_sub(1),
                        entries,
                    ))
                })
                .collect();
            set(1, Value::List(items));
        }
        "google.protobuf.Value" => {
            // Containers only while depth lasts, so recursion ends.
            let kinds = if depth == 0 { 4 } else { 6 };
            let number = 1 + (seed % kinds) as u32;
            let field = message.get_field(number)?;
            let value = match number {
                1 => Value::EnumNumber(0),
                2 => Value::F64(pick(&[2.5, -0.0, 1e21, 7.0], seed)),
                3 => Value::String("s".into()),
                4 => Value::Bool(false),
                _ => {
                    let Kind::Message(m) = field.kind() else {
                        return None;
                    };
                    Value::Message(rich(&m, seed + 1, depth - 1, entries))
                }
            };
            set(number, value);
        }
        name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
            let field = message.get_field(1)?;
            set(1, element(&field.kind(), seed, depth, entries)?);
        }
        _ => return None,
    }
    Some(out)
}
