//! Path variables and query parameters set on a dynamic message: the rules of the generated
//! `FieldSet` impls (src/codegen/setters.rs), case for case, so both codecs accept and refuse
//! the same values with the same errors.

use prost_reflect::{DynamicMessage, Value};

use super::plan::{MessageId, Plans, Scalar, Shape, Text};
use super::wkt;
use crate::transcode::{FieldError, FieldSet, parse};

/// A dynamic message seen through its plan: what `bind_request` and `bind_scalar_body` set.
pub struct Fields<'a> {
    pub plans: &'a Plans,
    pub id: MessageId,
    pub message: &'a mut DynamicMessage,
}

impl FieldSet for Fields<'_> {
    fn set_field<S: AsRef<str>>(&mut self, path: &[S], value: &str) -> Result<(), FieldError> {
        set(self.plans, self.id, self.message, path, value)
    }
}

fn set<S: AsRef<str>>(
    plans: &Plans,
    id: MessageId,
    message: &mut DynamicMessage,
    path: &[S],
    value: &str,
) -> Result<(), FieldError> {
    let Some((head, rest)) = path.split_first() else {
        return Err(FieldError::NotALeaf);
    };
    let plan = plans.message(id);
    let Some(&index) = plan.by_name.get(head.as_ref()) else {
        return Err(FieldError::Unknown);
    };
    let field = &plan.fields[index];
    let descriptor = &field.descriptor;
    // Another member of the field's oneof is set.
    let conflict = || {
        let oneof = &plan.oneofs[field.oneof?];
        let taken = oneof
            .members
            .iter()
            .any(|&m| m != index && message.has_field(&plan.fields[m].descriptor));
        taken.then(|| FieldError::OneofConflict(oneof.name.clone().into()))
    };
    match field.text {
        Text::Unsupported(reason) => Err(FieldError::Unsupported(reason)),
        Text::Message(nested) => {
            if rest.is_empty() {
                return Err(FieldError::NotALeaf);
            }
            if let Some(error) = conflict() {
                return Err(error);
            }
            if message.has_field(descriptor)
                && let Value::Message(existing) = message.get_field_mut(descriptor)
            {
                return set(plans, nested, existing, rest, value);
            }
            // Created only once a field of it is set, so a refused value leaves it unset.
            let mut created = DynamicMessage::new(plans.message(nested).descriptor.clone());
            set(plans, nested, &mut created, rest, value)?;
            store(message, field, Value::Message(created))
        }
        Text::Scalar(_) | Text::Enum(_) | Text::WellKnown(_) => {
            if !rest.is_empty() {
                return Err(FieldError::NotAMessage);
            }
            let parsed = element(plans, field.text, value)?;
            if field.shape == Shape::Repeated {
                if let Value::List(items) = message.get_field_mut(descriptor) {
                    items.push(parsed);
                }
                return Ok(());
            }
            if let Some(error) = conflict() {
                return Err(error);
            }
            store(message, field, parsed)
        }
    }
}

fn store(
    message: &mut DynamicMessage,
    field: &super::plan::FieldPlan,
    value: Value,
) -> Result<(), FieldError> {
    message
        .try_set_field(&field.descriptor, value)
        .map_err(|e| FieldError::Invalid(e.to_string()))
}

/// One element from its text form.
fn element(plans: &Plans, text: Text, value: &str) -> Result<Value, FieldError> {
    match text {
        Text::Scalar(s) => scalar(s, value),
        Text::Enum(id) => {
            let plan = plans.enumeration(id);
            parse::enumeration_by(value, |name| plan.number(name)).map(Value::EnumNumber)
        }
        Text::WellKnown(id) => {
            let plan = plans.message(id);
            let Some(kind) = plan.wkt else {
                return Err(FieldError::Unsupported("this well-known type"));
            };
            wkt::from_text(kind, &plan.descriptor, value).map(Value::Message)
        }
        Text::Message(_) => Err(FieldError::NotALeaf),
        Text::Unsupported(reason) => Err(FieldError::Unsupported(reason)),
    }
}

/// A scalar from its text form.
pub fn scalar(scalar: Scalar, value: &str) -> Result<Value, FieldError> {
    Ok(match scalar {
        Scalar::Double => Value::F64(parse::f64(value)?),
        Scalar::Float => Value::F32(parse::f32(value)?),
        Scalar::Int32 => Value::I32(parse::i32(value)?),
        Scalar::Int64 => Value::I64(parse::i64(value)?),
        Scalar::Uint32 => Value::U32(parse::u32(value)?),
        Scalar::Uint64 => Value::U64(parse::u64(value)?),
        Scalar::Bool => Value::Bool(parse::bool(value)?),
        Scalar::String => Value::String(parse::string(value)?),
        Scalar::Bytes => Value::Bytes(parse::bytes(value)?.into()),
    })
}
