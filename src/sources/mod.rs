//! Where a schema comes from at run time: `.proto` files compiled at start-up, descriptor set
//! files, and backends' reflection services, merged with the compiled-in protos.

pub mod protos;
pub mod reflection;
