//! `payments.v1.PaymentService` over the demo store.

use tonic::{Request, Response, Status};

use super::store::{self, DemoStore};
use super::{Violations, already_exists, bad_field, failed_precondition, not_found};
use crate::proto::orders::v1::{OrderEvent, OrderStatus};
use crate::proto::payments::v1::payment_service_server::PaymentService;
use crate::proto::payments::v1::{
    CreatePaymentRequest, CreatePaymentResponse, GetPaymentRequest, GetPaymentResponse, Payment,
    PaymentStatus,
};

const RESOURCE: &str = "payments.v1.Payment";
const DOMAIN: &str = "payments.demo.gatehouse";
/// Longest accepted idempotency key.
const MAX_REQUEST_ID: usize = 64;

/// The demo `payments.v1.PaymentService`.
///
/// A payment settles a pending order in full and marks it paid. `request_id` is an idempotency
/// key: repeating a request returns the first payment; reusing the key for a different payment
/// is ALREADY_EXISTS.
#[derive(Clone, Debug)]
pub struct PaymentBackend {
    store: DemoStore,
}

impl PaymentBackend {
    /// A service over `store`.
    pub fn new(store: DemoStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentBackend {
    async fn create_payment(
        &self,
        request: Request<CreatePaymentRequest>,
    ) -> Result<Response<CreatePaymentResponse>, Status> {
        let request = request.into_inner();
        validate_create(&request)?;

        let mut tables = self.store.lock();
        if let Some(earlier) = tables
            .payment_requests
            .get(&request.request_id)
            .and_then(|id| tables.payments.get(id))
        {
            let same = earlier.order_id == request.order_id
                && earlier.amount_cents == request.amount_cents
                && earlier.currency == request.currency;
            if !same {
                return Err(already_exists(
                    format!(
                        "request_id {:?} was already used for another payment",
                        request.request_id
                    ),
                    "IDEMPOTENCY_KEY_REUSED",
                    DOMAIN,
                ));
            }
            return Ok(Response::new(CreatePaymentResponse {
                payment: Some(earlier.clone()),
            }));
        }

        let order = tables
            .orders
            .get(&request.order_id)
            .ok_or_else(|| not_found("orders.v1.Order", &request.order_id))?;
        if order.status != OrderStatus::Pending as i32 {
            let status = OrderStatus::try_from(order.status)
                .map_or("in an unknown state", |status| status.as_str_name());
            return Err(failed_precondition(
                format!("order {:?} is {status}, not pending", order.order_id),
                "ORDER_STATUS",
                &format!("orders/{}", order.order_id),
            ));
        }
        let mut violations = Violations::default();
        if request.amount_cents != order.total_cents {
            violations.add(
                "amount_cents",
                format!("must equal the order total of {}", order.total_cents),
            );
        }
        if request.currency != order.currency {
            violations.add(
                "currency",
                format!("must equal the order currency {}", order.currency),
            );
        }
        violations.check()?;

        let payment = Payment {
            payment_id: tables.new_payment_id(),
            order_id: request.order_id,
            amount_cents: request.amount_cents,
            currency: request.currency,
            status: PaymentStatus::Succeeded as i32,
            request_id: request.request_id,
            create_time: Some(store::now()),
        };
        if let Some(order) = tables.orders.get_mut(&payment.order_id) {
            order.status = OrderStatus::Paid as i32;
            self.store.order_changed(OrderEvent::Changed, order);
        }
        tables
            .payment_requests
            .insert(payment.request_id.clone(), payment.payment_id.clone());
        tables
            .payments
            .insert(payment.payment_id.clone(), payment.clone());
        Ok(Response::new(CreatePaymentResponse {
            payment: Some(payment),
        }))
    }

    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        let payment_id = request.into_inner().payment_id;
        if payment_id.is_empty() {
            return Err(bad_field("payment_id", "is required"));
        }
        let payment = self
            .store
            .payment(&payment_id)
            .ok_or_else(|| not_found(RESOURCE, &payment_id))?;
        Ok(Response::new(GetPaymentResponse {
            payment: Some(payment),
        }))
    }
}

/// Field checks for CreatePayment that need no data.
fn validate_create(request: &CreatePaymentRequest) -> Result<(), Status> {
    let mut violations = Violations::default();
    if request.order_id.is_empty() {
        violations.add("order_id", "is required");
    }
    if request.amount_cents <= 0 {
        violations.add("amount_cents", "must be positive");
    }
    let currency = &request.currency;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        violations.add(
            "currency",
            "must be a three-letter ISO 4217 code such as USD",
        );
    }
    let key_len = request.request_id.chars().count();
    if !(1..=MAX_REQUEST_ID).contains(&key_len) {
        violations.add(
            "request_id",
            format!("must be 1 to {MAX_REQUEST_ID} characters"),
        );
    }
    violations.check()
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn pay(order_id: &str, amount_cents: i64, request_id: &str) -> Request<CreatePaymentRequest> {
        Request::new(CreatePaymentRequest {
            order_id: order_id.to_owned(),
            amount_cents,
            currency: "USD".to_owned(),
            request_id: request_id.to_owned(),
        })
    }

    #[tokio::test]
    async fn paying_a_pending_order_marks_it_paid_once() {
        let store = DemoStore::seeded();
        let backend = PaymentBackend::new(store.clone());
        let total = store.order("o-1003").expect("o-1003").total_cents;

        let first = backend.create_payment(pay("o-1003", total, "k1")).await;
        let first = first.expect("paid").into_inner().payment.expect("payment");
        assert_eq!(first.payment_id, "pay-5004");
        let paid = store.order("o-1003").expect("o-1003").status;
        assert_eq!(paid, OrderStatus::Paid as i32);

        // Same key, same request: the first payment again, not a second charge.
        let again = backend.create_payment(pay("o-1003", total, "k1")).await;
        assert_eq!(again.expect("replay").into_inner().payment, Some(first));

        let err = backend
            .create_payment(pay("o-1003", total, "k2"))
            .await
            .expect_err("already paid");
        assert_eq!(err.code(), Code::FailedPrecondition);
        let err = backend
            .create_payment(pay("o-1003", total + 1, "k1"))
            .await
            .expect_err("key reused");
        assert_eq!(err.code(), Code::AlreadyExists);
    }

    #[tokio::test]
    async fn wrong_amount_and_unknown_order_are_refused() {
        let backend = PaymentBackend::new(DemoStore::seeded());
        let err = backend.create_payment(pay("o-1003", 1, "k")).await;
        assert_eq!(err.expect_err("amount").code(), Code::InvalidArgument);
        let err = backend.create_payment(pay("o-9999", 1, "k")).await;
        assert_eq!(err.expect_err("order").code(), Code::NotFound);
        let err = backend.create_payment(pay("o-1003", 1, "")).await;
        assert_eq!(err.expect_err("key").code(), Code::InvalidArgument);
    }
}
