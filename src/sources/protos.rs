//! STUB
#[derive(Debug, Clone)]
pub struct ProtoError {
    pub message: String,
}
impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
pub fn compile(_roots: &[std::path::PathBuf]) -> Result<Vec<u8>, ProtoError> {
    todo!()
}
