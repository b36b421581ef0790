//! `products.v1.ProductService` over the demo store.

use tonic::{Request, Response, Status};

use super::store::{self, DemoStore};
use super::{Violations, bad_field, not_found};
use crate::proto::products::v1::product_service_server::ProductService;
use crate::proto::products::v1::{
    BatchGetProductsRequest, BatchGetProductsResponse, GetProductRequest, GetProductResponse,
    ListProductsRequest, ListProductsResponse, Product,
};

const RESOURCE: &str = "products.v1.Product";
/// Most ids one BatchGetProducts call may ask for.
const MAX_BATCH: usize = 100;
/// Longest accepted filter expression.
const MAX_FILTER: usize = 200;

/// The demo `products.v1.ProductService` (read-only; orders change the stock).
#[derive(Clone, Debug)]
pub struct ProductBackend {
    store: DemoStore,
}

impl ProductBackend {
    /// A service over `store`.
    pub fn new(store: DemoStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl ProductService for ProductBackend {
    async fn get_product(
        &self,
        request: Request<GetProductRequest>,
    ) -> Result<Response<GetProductResponse>, Status> {
        let product_id = request.into_inner().product_id;
        if product_id.is_empty() {
            return Err(bad_field("product_id", "is required"));
        }
        let product = self
            .store
            .product(&product_id)
            .ok_or_else(|| not_found(RESOURCE, &product_id))?;
        Ok(Response::new(GetProductResponse {
            product: Some(product),
        }))
    }

    async fn list_products(
        &self,
        request: Request<ListProductsRequest>,
    ) -> Result<Response<ListProductsResponse>, Status> {
        let request = request.into_inner();
        let filter = Filter::parse(&request.filter)?;
        let tables = self.store.lock();
        let page = store::page(
            &tables.products,
            |product| filter.matches(product),
            &format!("products filter={}", request.filter),
            request.page_size,
            &request.page_token,
        )?;
        Ok(Response::new(ListProductsResponse {
            products: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn batch_get_products(
        &self,
        request: Request<BatchGetProductsRequest>,
    ) -> Result<Response<BatchGetProductsResponse>, Status> {
        let ids = request.into_inner().ids;
        let mut violations = Violations::default();
        if ids.is_empty() {
            violations.add("ids", "at least one id is required");
        } else if ids.len() > MAX_BATCH {
            violations.add("ids", format!("at most {MAX_BATCH} ids per call"));
        }
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() {
                violations.add(format!("ids[{i}]"), "must not be empty");
            }
        }
        violations.check()?;

        let tables = self.store.lock();
        // All or nothing: the first unknown id fails the whole batch.
        let products = ids
            .iter()
            .map(|id| {
                tables
                    .products
                    .get(id)
                    .cloned()
                    .ok_or_else(|| not_found(RESOURCE, id))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(BatchGetProductsResponse { products }))
    }
}

/// The ListProducts filter: empty, `tag:<t>`, or a substring of the name.
#[derive(Debug)]
enum Filter {
    All,
    Tag(String),
    NameContains(String),
}

impl Filter {
    fn parse(filter: &str) -> Result<Filter, Status> {
        if filter.chars().count() > MAX_FILTER {
            return Err(bad_field(
                "filter",
                format!("must be at most {MAX_FILTER} characters"),
            ));
        }
        let filter = filter.trim();
        if filter.is_empty() {
            return Ok(Filter::All);
        }
        match filter.strip_prefix("tag:").map(str::trim) {
            Some("") => Err(bad_field("filter", "tag: needs a tag name")),
            Some(tag) => Ok(Filter::Tag(tag.to_lowercase())),
            None => Ok(Filter::NameContains(filter.to_lowercase())),
        }
    }

    fn matches(&self, product: &Product) -> bool {
        match self {
            Filter::All => true,
            Filter::Tag(tag) => product.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)),
            Filter::NameContains(text) => product.name.to_lowercase().contains(text.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn list(filter: &str, page_size: i32, page_token: &str) -> Request<ListProductsRequest> {
        Request::new(ListProductsRequest {
            filter: filter.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        })
    }

    fn ids(products: &[Product]) -> Vec<&str> {
        products.iter().map(|p| p.product_id.as_str()).collect()
    }

    #[tokio::test]
    async fn filters_by_tag_and_name() {
        let backend = ProductBackend::new(DemoStore::seeded());
        let by_tag = backend
            .list_products(list("tag:input", 0, ""))
            .await
            .expect("tag");
        assert_eq!(ids(&by_tag.get_ref().products), ["p-100", "p-101"]);
        let by_name = backend
            .list_products(list("MONITOR", 0, ""))
            .await
            .expect("name");
        assert_eq!(ids(&by_name.get_ref().products), ["p-103"]);
    }

    #[tokio::test]
    async fn page_token_is_bound_to_the_filter() {
        let backend = ProductBackend::new(DemoStore::seeded());
        let first = backend
            .list_products(list("tag:hardware", 2, ""))
            .await
            .expect("first")
            .into_inner();
        assert_eq!(ids(&first.products), ["p-100", "p-101"]);
        let second = backend
            .list_products(list("tag:hardware", 2, &first.next_page_token))
            .await
            .expect("second")
            .into_inner();
        assert_eq!(ids(&second.products), ["p-103", "p-105"]);
        let err = backend
            .list_products(list("tag:audio", 2, &first.next_page_token))
            .await
            .expect_err("other filter");
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[tokio::test]
    async fn batch_get_keeps_request_order_and_fails_on_unknown_ids() {
        let backend = ProductBackend::new(DemoStore::seeded());
        let batch = |ids: &[&str]| {
            Request::new(BatchGetProductsRequest {
                ids: ids.iter().map(|id| (*id).to_owned()).collect(),
            })
        };
        let found = backend
            .batch_get_products(batch(&["p-105", "p-100"]))
            .await
            .expect("found");
        assert_eq!(ids(&found.get_ref().products), ["p-105", "p-100"]);
        let err = backend
            .batch_get_products(batch(&["p-100", "p-999"]))
            .await
            .expect_err("unknown");
        assert_eq!(err.code(), Code::NotFound);
        let err = backend
            .batch_get_products(batch(&[]))
            .await
            .expect_err("empty");
        assert_eq!(err.code(), Code::InvalidArgument);
    }
}
