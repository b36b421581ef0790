//! `products.v1.ProductService` over the demo store.

use tonic::{Request, Response, Status};

use super::store::{self, DemoStore};
use super::{Violations, bad_field, not_found};
use crate::proto::google::api::HttpBody;
use crate::proto::products::v1::product_service_server::ProductService;
use crate::proto::products::v1::{
    BatchGetProductsRequest, BatchGetProductsResponse, GetProductImageRequest, GetProductRequest,
    GetProductResponse, ListProductsRequest, ListProductsResponse, Product, SetProductImageRequest,
    SetProductImageResponse,
};

const RESOURCE: &str = "products.v1.Product";
/// What a product without an image is reported missing as.
const IMAGE_RESOURCE: &str = "products.v1.ProductImage";
/// Most ids one BatchGetProducts call may ask for.
const MAX_BATCH: usize = 100;
/// Longest accepted filter expression.
const MAX_FILTER: usize = 200;
/// Largest image a product may have: the gateway's `max_body` for the image routes.
pub(crate) const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest request message the service decodes: an image of [`MAX_IMAGE_BYTES`] and room for the
/// rest of the message (tonic's default, 4 MiB, would refuse large images before they are seen).
pub(crate) const MAX_REQUEST_BYTES: usize = MAX_IMAGE_BYTES + 64 * 1024;

/// The demo `products.v1.ProductService`: read-only but for each product's image (orders change
/// the stock). Images are kept in the store, at most one per product, each at most
/// [`MAX_IMAGE_BYTES`], so the memory they take is bounded by the catalogue.
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

    async fn set_product_image(
        &self,
        request: Request<SetProductImageRequest>,
    ) -> Result<Response<SetProductImageResponse>, Status> {
        let request = request.into_inner();
        let image = validate_image(&request.product_id, request.image)?;
        let mut tables = self.store.lock();
        if !tables.products.contains_key(&request.product_id) {
            return Err(not_found(RESOURCE, &request.product_id));
        }
        let reply = SetProductImageResponse {
            product_id: request.product_id.clone(),
            content_type: image.content_type.clone(),
            size_bytes: i64::try_from(image.data.len()).unwrap_or(i64::MAX),
        };
        tables.product_images.insert(request.product_id, image);
        Ok(Response::new(reply))
    }

    async fn get_product_image(
        &self,
        request: Request<GetProductImageRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let product_id = request.into_inner().product_id;
        if product_id.is_empty() {
            return Err(bad_field("product_id", "is required"));
        }
        let tables = self.store.lock();
        if !tables.products.contains_key(&product_id) {
            return Err(not_found(RESOURCE, &product_id));
        }
        let image = tables
            .product_images
            .get(&product_id)
            .cloned()
            .ok_or_else(|| not_found(IMAGE_RESOURCE, &product_id))?;
        Ok(Response::new(image))
    }
}

/// `image`, once `product_id` is set and the image is a non-empty image/* body of at most
/// [`MAX_IMAGE_BYTES`]; INVALID_ARGUMENT naming every field that is not so.
fn validate_image(product_id: &str, image: Option<HttpBody>) -> Result<HttpBody, Status> {
    let mut violations = Violations::default();
    if product_id.is_empty() {
        violations.add("product_id", "is required");
    }
    match &image {
        None => violations.add("image", "is required"),
        Some(image) => {
            if !is_image_type(&image.content_type) {
                violations.add(
                    "image.content_type",
                    format!(
                        "must be an image/* media type such as image/png, not {:?}",
                        image.content_type
                    ),
                );
            }
            if image.data.is_empty() {
                violations.add("image.data", "must not be empty");
            } else if image.data.len() > MAX_IMAGE_BYTES {
                violations.add(
                    "image.data",
                    format!("must be at most {} MiB", MAX_IMAGE_BYTES / (1024 * 1024)),
                );
            }
        }
    }
    violations.check()?;
    let mut image = image.unwrap_or_default();
    // Not part of the image: only what GetProductImage sends back is kept.
    image.extensions.clear();
    Ok(image)
}

/// Whether `content_type` is `image/<subtype>`, parameters and case aside.
fn is_image_type(content_type: &str) -> bool {
    crate::media_type::essence(content_type)
        .and_then(|essence| essence.split_once('/'))
        .is_some_and(|(kind, _)| kind.eq_ignore_ascii_case("image"))
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

    fn set_image(
        product_id: &str,
        content_type: &str,
        data: &[u8],
    ) -> Request<SetProductImageRequest> {
        Request::new(SetProductImageRequest {
            product_id: product_id.to_owned(),
            image: Some(HttpBody {
                content_type: content_type.to_owned(),
                data: data.to_vec(),
                extensions: Vec::new(),
            }),
        })
    }

    fn get_image(product_id: &str) -> Request<GetProductImageRequest> {
        Request::new(GetProductImageRequest {
            product_id: product_id.to_owned(),
        })
    }

    /// The BadRequest field violations of an INVALID_ARGUMENT status.
    fn violated_fields(err: &Status) -> Vec<String> {
        use prost::Message as _;
        let status = crate::proto::google::rpc::Status::decode(err.details()).expect("status");
        let bad_request =
            crate::proto::google::rpc::BadRequest::decode(status.details[0].value.as_ref())
                .expect("BadRequest");
        bad_request
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[tokio::test]
    async fn an_image_is_stored_and_read_back_as_sent() {
        let backend = ProductBackend::new(DemoStore::seeded());
        let err = backend
            .get_product_image(get_image("p-100"))
            .await
            .expect_err("no image yet");
        assert_eq!(err.code(), Code::NotFound);

        let png = b"\x89PNG\r\n\x1a\nrest";
        let stored = backend
            .set_product_image(set_image("p-100", "image/png", png))
            .await
            .expect("stored")
            .into_inner();
        assert_eq!(stored.product_id, "p-100");
        assert_eq!(stored.content_type, "image/png");
        assert_eq!(stored.size_bytes, 12);
        let image = backend
            .get_product_image(get_image("p-100"))
            .await
            .expect("image")
            .into_inner();
        assert_eq!(image.content_type, "image/png");
        assert_eq!(image.data, png);

        // A second upload replaces the first.
        backend
            .set_product_image(set_image("p-100", "image/gif; x=y", b"GIF89a"))
            .await
            .expect("replaced");
        let image = backend.get_product_image(get_image("p-100")).await;
        assert_eq!(image.expect("image").get_ref().data, b"GIF89a");
    }

    #[tokio::test]
    async fn only_non_empty_images_of_known_products_are_stored() {
        let backend = ProductBackend::new(DemoStore::seeded());
        let cases = [
            (
                set_image("p-100", "text/plain", b"hi"),
                vec!["image.content_type"],
            ),
            (set_image("p-100", "", b"hi"), vec!["image.content_type"]),
            (set_image("p-100", "image/png", b""), vec!["image.data"]),
            (
                set_image("", "application/pdf", b""),
                vec!["product_id", "image.content_type", "image.data"],
            ),
            (
                Request::new(SetProductImageRequest {
                    product_id: "p-100".into(),
                    image: None,
                }),
                vec!["image"],
            ),
        ];
        for (request, fields) in cases {
            let err = backend
                .set_product_image(request)
                .await
                .expect_err("refused");
            assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
            assert_eq!(violated_fields(&err), fields);
        }
        let too_large = vec![0; MAX_IMAGE_BYTES + 1];
        let err = backend
            .set_product_image(set_image("p-100", "image/png", &too_large))
            .await
            .expect_err("too large");
        assert_eq!(violated_fields(&err), ["image.data"]);

        let err = backend
            .set_product_image(set_image("p-999", "image/png", b"x"))
            .await
            .expect_err("unknown product");
        assert_eq!(err.code(), Code::NotFound);
        let err = backend
            .get_product_image(get_image("p-999"))
            .await
            .expect_err("unknown product");
        assert_eq!(err.code(), Code::NotFound);
    }

    #[test]
    fn image_types_are_image_slash_something() {
        for (content_type, image) in [
            ("image/png", true),
            ("IMAGE/JPEG", true),
            ("image/svg+xml; charset=utf-8", true),
            (" image/webp ", true),
            ("image/", false),
            ("image", false),
            ("image/png/x", false),
            ("text/plain", false),
            ("application/octet-stream", false),
            ("", false),
        ] {
            assert_eq!(is_image_type(content_type), image, "{content_type:?}");
        }
    }
}
