// TEMPORARY STUB (not committed)
use crate::error::GatewayError;
use crate::schema::{MethodCodec, RequestParts, RouteSpec};
use bytes::Bytes;
pub struct DynamicCodec;
impl DynamicCodec {
    pub fn new(
        _m: &prost_reflect::MethodDescriptor,
        _b: Option<&str>,
        _r: Option<&str>,
    ) -> Result<DynamicCodec, String> {
        Ok(DynamicCodec)
    }
}
impl MethodCodec for DynamicCodec {
    fn build_request(
        &self,
        _route: &RouteSpec,
        _parts: RequestParts<'_>,
    ) -> Result<Bytes, GatewayError> {
        todo!()
    }
    fn render_response(&self, _m: &[u8], _o: &mut Vec<u8>) -> Result<(), GatewayError> {
        todo!()
    }
    fn build_from_fields(&self, _f: &[(&[String], &[String])]) -> Result<Bytes, GatewayError> {
        todo!()
    }
}
