// The gatehouse API's client, written by `gatehouse client typescript` from the demo's config.
// Generated; do not edit. It needs nothing but fetch (and WebSocket for calls that
// stream both ways).

import { Transport } from "./runtime.js";
import type { AggregateCallError, AggregateOptions, AnyMessage, BidiCall, CallOptions, ClientOptions, WithRawBody, WithRequired } from "./runtime.js";

export * from "./runtime.js";

/** Request for ProductService.BatchGetProducts. */
export interface BatchGetProductsRequest {
  /** Ids to fetch, e.g. ?ids=p-100&ids=p-101; at most 100. */
  ids?: string[];
}

/** Response for ProductService.BatchGetProducts. */
export interface BatchGetProductsResponse {
  /** The products, in the order of the request ids. */
  products?: Product[];
}

/** Request for OrderService.CancelOrder. */
export interface CancelOrderRequest {
  /** Id of the order. */
  orderId?: string;
  /** Why the order is cancelled; optional. */
  reason?: string;
}

/** Request for OrderService.CreateOrder. */
export interface CreateOrderRequestInput {
  /** The user placing the order. */
  userId?: string;
  /** At least one item; unit_price_cents is ignored. */
  lineItems: LineItemInput[];
}

/** Request for PaymentService.CreatePayment. */
export interface CreatePaymentRequest {
  /** The order to pay; it must be pending. */
  orderId?: string;
  /** Must equal the order total. */
  amountCents?: string;
  /** Must equal the order currency. */
  currency?: string;
  /** Client-chosen idempotency key, 1 to 64 characters. */
  requestId?: string;
}

/** Request for UserService.CreateUser. */
export interface CreateUserRequest {
  /** The user to create; user_id, create_time and login_count are ignored. */
  user?: User;
}

/** Request for UserService.DeleteUser. */
export interface DeleteUserRequest {
  /** Id of the user. */
  userId?: string;
}

/** Response for UserService.DeleteUser. */
export type DeleteUserResponse = Record<string, never>;

/** Request for OrderService.ExportOrders. */
export interface ExportOrdersRequest {
  /** Only orders of this user; empty for all users. */
  userId?: string;
}

/** Request for OrderService.FollowOrders: the filter of the orders to follow. */
export interface FollowOrdersRequest {
  /** Only this user's orders; every user's when empty. */
  userId?: string;
  /** Only orders in this status; any status when unspecified. */
  status?: OrderStatus;
}

/** Response for OrderService.FollowOrders: one order and why it is sent. */
export interface FollowOrdersResponse {
  /** Why. */
  event?: OrderEvent;
  /** The order as it is now. */
  order?: Order;
}

/** Request for OrderService.GetInvoice. */
export interface GetInvoiceRequest {
  /** Id of the order. */
  orderId?: string;
}

/** Request for OrderService.GetOrder. */
export interface GetOrderRequest {
  /** Id of the order. */
  orderId?: string;
}

/** Request for PaymentService.GetPayment. */
export interface GetPaymentRequest {
  /** Id of the payment. */
  paymentId?: string;
}

/** Request for ProductService.GetProductImage. */
export interface GetProductImageRequest {
  /** Id of the product. */
  productId?: string;
}

/** Request for ProductService.GetProduct. */
export interface GetProductRequest {
  /** Id of the product. */
  productId?: string;
}

/** Request for UserService.GetUser. */
export interface GetUserRequest {
  /** Id of the user. */
  userId?: string;
}

/**
 * A body of any content type. As a response it becomes the HTTP body as it is; as a request it
 * receives the HTTP body unparsed, and the other fields of the request come from the path and
 * the query.
 */
export interface HttpBody {
  /** The media type of `data`, sent as the HTTP Content-Type header. */
  contentType?: string;
  /** The body itself, in whatever encoding `content_type` names. */
  data?: string;
  /** Metadata for the application that is not part of the body (not sent over HTTP). */
  extensions?: AnyMessage[];
}

/** One product and quantity within an order. */
export interface LineItem {
  /** Id of the product, e.g. "p-100". */
  productId?: string;
  /** How many; must be at least 1. */
  quantity?: number;
  /** Price of one unit when the order was placed; output only. */
  unitPriceCents?: string;
}

/** One product and quantity within an order. */
export interface LineItemInput {
  /** Id of the product, e.g. "p-100". */
  productId: string;
  /** How many; must be at least 1. */
  quantity: number;
  /** Price of one unit when the order was placed; output only. */
  unitPriceCents?: string;
}

/** Request for OrderService.ListOrders. */
export interface ListOrdersRequest {
  /** Only orders of this user; empty for all users. */
  userId?: string;
  /** Maximum orders per page; 0 means the server default, larger values are capped. */
  pageSize?: number;
  /** Token from a previous ListOrdersResponse; empty for the first page. */
  pageToken?: string;
}

/** Response for OrderService.ListOrders. */
export interface ListOrdersResponse {
  /** One page of orders. */
  orders?: Order[];
  /** Token for the next page; empty on the last page. */
  nextPageToken?: string;
}

/** Request for ProductService.ListProducts. */
export interface ListProductsRequest {
  /**
   * Empty for all products; "tag:<t>" for products with tag t; anything
   * else is a case-insensitive substring of the name.
   */
  filter?: string;
  /** Maximum products per page; 0 means the server default, larger values are capped. */
  pageSize?: number;
  /**
   * Token from a previous ListProductsResponse; empty for the first page.
   * It is only valid with the same filter.
   */
  pageToken?: string;
}

/** Response for ProductService.ListProducts. */
export interface ListProductsResponse {
  /** One page of products. */
  products?: Product[];
  /** Token for the next page; empty on the last page. */
  nextPageToken?: string;
}

/** Request for UserService.ListUsers. */
export interface ListUsersRequest {
  /** Maximum users per page; 0 means the server default, larger values are capped. */
  pageSize?: number;
  /** Token from a previous ListUsersResponse; empty for the first page. */
  pageToken?: string;
}

/** Response for UserService.ListUsers. */
export interface ListUsersResponse {
  /** One page of users. */
  users?: User[];
  /** Token for the next page; empty on the last page. */
  nextPageToken?: string;
}

/** An order. */
export interface Order {
  /** Server-assigned id. */
  orderId?: string;
  /** The user who placed it. */
  userId?: string;
  /** What was ordered. */
  lineItems?: LineItem[];
  /** Where the order is in its life cycle. */
  status?: OrderStatus;
  /** Sum of quantity × unit price, in cents. */
  totalCents?: string;
  /** ISO 4217 currency of total_cents. */
  currency?: string;
  /** When the order was placed. */
  createTime?: string;
}

/** Why FollowOrders sends an order. */
export type OrderEvent = "ORDER_EVENT_UNSPECIFIED" | "ORDER_EVENT_CURRENT" | "ORDER_EVENT_CREATED" | "ORDER_EVENT_CHANGED";

/** Life cycle of an order. */
export type OrderStatus = "ORDER_STATUS_UNSPECIFIED" | "ORDER_STATUS_PENDING" | "ORDER_STATUS_PAID" | "ORDER_STATUS_SHIPPED" | "ORDER_STATUS_DELIVERED" | "ORDER_STATUS_CANCELLED";

/** A payment for one order. */
export interface Payment {
  /** Server-assigned id. */
  paymentId?: string;
  /** The order paid for. */
  orderId?: string;
  /** Amount charged, in cents. */
  amountCents?: string;
  /** ISO 4217 currency of amount_cents. */
  currency?: string;
  /** Outcome. */
  status?: PaymentStatus;
  /** The client's idempotency key. */
  requestId?: string;
  /** When the payment was taken. */
  createTime?: string;
}

/** Outcome of a payment. */
export type PaymentStatus = "PAYMENT_STATUS_UNSPECIFIED" | "PAYMENT_STATUS_PENDING" | "PAYMENT_STATUS_SUCCEEDED" | "PAYMENT_STATUS_FAILED" | "PAYMENT_STATUS_REFUNDED";

/** A product for sale. */
export interface Product {
  /** Id such as "p-100". */
  productId?: string;
  /** Short name. */
  name?: string;
  /** Longer description. */
  description?: string;
  /** Price of one unit, in cents. */
  priceCents?: string;
  /** ISO 4217 currency of price_cents. */
  currency?: string;
  /** Units in stock. */
  stock?: number;
  /** Free-form labels such as "audio". */
  tags?: string[];
}

/** Request for ProductService.SetProductImage. */
export interface SetProductImageRequest {
  /** Id of the product. */
  productId?: string;
  /** The image: its bytes and its media type, such as image/png. */
  image?: HttpBody;
}

/** Response for ProductService.SetProductImage. */
export interface SetProductImageResponse {
  /** Id of the product. */
  productId?: string;
  /** Media type of the stored image, as it was sent. */
  contentType?: string;
  /** Size of the stored image in bytes. */
  sizeBytes?: string;
}

/** Request for UserService.UpdateUser. */
export interface UpdateUserRequest {
  /** The new values; user.user_id names the user to update. */
  user?: User;
  /**
   * Fields to update, in snake_case; empty means every mutable field (over REST, the gateway
   * sets it to the fields of the body when the query does not).
   */
  updateMask?: string;
}

/** A user account. */
export interface User {
  /** Server-assigned id; immutable. */
  userId?: string;
  /** Unique email address. */
  email?: string;
  /** Name shown to other users. */
  displayName?: string;
  /** Service level. */
  tier?: UserTier;
  /** When the account was created; output only. */
  createTime?: string;
  /** Number of sign-ins so far; output only. */
  loginCount?: string;
}

/** Service level of an account. */
export type UserTier = "USER_TIER_UNSPECIFIED" | "USER_TIER_FREE" | "USER_TIER_PRO" | "USER_TIER_ENTERPRISE";

/** Request for OrderService.WatchOrders. */
export interface WatchOrdersRequest {
  /** The user whose orders to stream; required. */
  userId?: string;
}

/** One message of the OrderService.WatchOrders stream. */
export interface WatchOrdersResponse {
  /** The current state of one order. */
  order?: Order;
}


/** Places, reads and cancels orders. */
export class OrderServiceClient {
  private readonly t: Transport;

  constructor(transport: Transport) {
    this.t = transport;
  }

  /**
   * Places an order; the user and every product must exist.
   *
   * `POST /api/orders`
   */
  createOrder(request: CreateOrderRequestInput, options?: CallOptions): Promise<Order> {
    return this.t.unary<Order>({ name: "orders.v1.OrderService.CreateOrder", method: "POST", path: ["api", "orders"], body: "*" }, request, options);
  }

  /**
   * Returns one order; NOT_FOUND if the id is unknown.
   *
   * `GET /api/orders/{order_id}`
   */
  getOrder(request: WithRequired<GetOrderRequest, "orderId">, options?: CallOptions): Promise<Order> {
    return this.t.unary<Order>({ name: "orders.v1.OrderService.GetOrder", method: "GET", path: ["api", "orders", { field: ["orderId"] }] }, request, options);
  }

  /**
   * Lists orders ordered by id, optionally only those of one user.
   *
   * `GET /api/orders`
   */
  listOrders(request: ListOrdersRequest, options?: CallOptions): Promise<ListOrdersResponse> {
    return this.t.unary<ListOrdersResponse>({ name: "orders.v1.OrderService.ListOrders", method: "GET", path: ["api", "orders"] }, request, options);
  }

  /**
   * Cancels an order; FAILED_PRECONDITION once it has shipped.
   *
   * `POST /api/orders/{order_id}:cancel`
   */
  cancelOrder(request: WithRequired<CancelOrderRequest, "orderId">, options?: CallOptions): Promise<Order> {
    return this.t.unary<Order>({ name: "orders.v1.OrderService.CancelOrder", method: "POST", path: ["api", "orders", { field: ["orderId"] }], verb: "cancel", body: "*" }, request, options);
  }

  /**
   * Streams the current orders of a user, one message each, then ends.
   *
   * `GET /api/orders:watch`
   *
   * The responses as they arrive (NDJSON); leaving the loop early cancels the call.
   */
  watchOrders(request: WatchOrdersRequest, options?: CallOptions): AsyncGenerator<WatchOrdersResponse, void, undefined> {
    return this.t.serverStream<WatchOrdersResponse>({ name: "orders.v1.OrderService.WatchOrders", method: "GET", path: ["api", "orders"], verb: "watch" }, request, options);
  }

  /**
   * Follows orders as they change. Each request sets the filter (and replaces the one before);
   * the answer is first every order that matches it now (ORDER_EVENT_CURRENT), then each order
   * created or changed that matches it, as it happens. Ending the request stream ends the call.
   * Over plain HTTP it is served on a WebSocket opened on this path (GET /api/orders:follow).
   *
   * `POST /api/orders:follow`
   *
   * Over a WebSocket: `params` fills the path and the query, and through them every message.
   */
  followOrders(params: Partial<FollowOrdersRequest>, options?: CallOptions): BidiCall<FollowOrdersRequest, FollowOrdersResponse> {
    return this.t.bidi<FollowOrdersRequest, FollowOrdersResponse>({ name: "orders.v1.OrderService.FollowOrders", method: "POST", path: ["api", "orders"], verb: "follow", body: "*" }, params, options);
  }

  /**
   * Returns the order's invoice as a CSV document (text/csv; charset=utf-8): a header row, one
   * row per line item and a total row, amounts in the order's currency; NOT_FOUND if the id is
   * unknown.
   * A google.api.HttpBody: the response is the CSV document itself, not a message holding it.
   *
   * `GET /api/orders/{order_id}/invoice`
   */
  getInvoice(request: WithRequired<GetInvoiceRequest, "orderId">, options?: CallOptions): Promise<Blob> {
    return this.t.blob({ name: "orders.v1.OrderService.GetInvoice", method: "GET", path: ["api", "orders", { field: ["orderId"] }, "invoice"] }, request, options);
  }

  /**
   * Streams the orders, ordered by id, as one CSV document (text/csv; charset=utf-8): the first
   * message is the header row and carries the content type, then one message per order, each
   * read from the store only when the previous one has been sent.
   * google.api.HttpBody: each message is a piece of the CSV document itself.
   *
   * `GET /api/orders:export`
   *
   * The stream's bytes, whole, as one Blob of their type.
   */
  exportOrders(request: ExportOrdersRequest, options?: CallOptions): Promise<Blob> {
    return this.t.blob({ name: "orders.v1.OrderService.ExportOrders", method: "GET", path: ["api", "orders"], verb: "export" }, request, options);
  }
}

/** Takes payments for orders. */
export class PaymentServiceClient {
  private readonly t: Transport;

  constructor(transport: Transport) {
    this.t = transport;
  }

  /**
   * Pays an order in full. Repeating a request with the same request_id
   * returns the first payment instead of charging twice.
   *
   * `POST /api/payments`
   */
  createPayment(request: CreatePaymentRequest, options?: CallOptions): Promise<Payment> {
    return this.t.unary<Payment>({ name: "payments.v1.PaymentService.CreatePayment", method: "POST", path: ["api", "payments"], body: "*" }, request, options);
  }

  /**
   * Returns one payment; NOT_FOUND if the id is unknown.
   *
   * `GET /api/payments/{payment_id}`
   */
  getPayment(request: WithRequired<GetPaymentRequest, "paymentId">, options?: CallOptions): Promise<Payment> {
    return this.t.unary<Payment>({ name: "payments.v1.PaymentService.GetPayment", method: "GET", path: ["api", "payments", { field: ["paymentId"] }] }, request, options);
  }
}

/** The product catalogue: read-only, but for each product's image. */
export class ProductServiceClient {
  private readonly t: Transport;

  constructor(transport: Transport) {
    this.t = transport;
  }

  /**
   * Returns one product; NOT_FOUND if the id is unknown.
   *
   * `GET /api/products/{product_id}`
   */
  getProduct(request: WithRequired<GetProductRequest, "productId">, options?: CallOptions): Promise<Product> {
    return this.t.unary<Product>({ name: "products.v1.ProductService.GetProduct", method: "GET", path: ["api", "products", { field: ["productId"] }] }, request, options);
  }

  /**
   * Lists products ordered by id, optionally filtered.
   *
   * `GET /api/products`
   */
  listProducts(request: ListProductsRequest, options?: CallOptions): Promise<ListProductsResponse> {
    return this.t.unary<ListProductsResponse>({ name: "products.v1.ProductService.ListProducts", method: "GET", path: ["api", "products"] }, request, options);
  }

  /**
   * Returns several products in the order asked; NOT_FOUND if any id is unknown.
   *
   * `GET /api/products:batchGet`
   */
  batchGetProducts(request: BatchGetProductsRequest, options?: CallOptions): Promise<BatchGetProductsResponse> {
    return this.t.unary<BatchGetProductsResponse>({ name: "products.v1.ProductService.BatchGetProducts", method: "GET", path: ["api", "products"], verb: "batchGet" }, request, options);
  }

  /**
   * Stores the product's image, replacing any earlier one. PUT takes the image as the raw body
   * with its Content-Type; POST takes a multipart/form-data upload whose `image` part is the
   * file. INVALID_ARGUMENT unless the content type is image/* and the image is not empty;
   * NOT_FOUND if the id is unknown.
   *
   * `PUT /api/products/{product_id}/image`
   */
  setProductImage(request: WithRequired<WithRawBody<SetProductImageRequest, "image">, "productId">, options?: CallOptions): Promise<SetProductImageResponse> {
    return this.t.unary<SetProductImageResponse>({ name: "products.v1.ProductService.SetProductImage", method: "PUT", path: ["api", "products", { field: ["productId"] }, "image"], body: "image", raw: true }, request, options);
  }

  /**
   * Stores the product's image, replacing any earlier one. PUT takes the image as the raw body
   * with its Content-Type; POST takes a multipart/form-data upload whose `image` part is the
   * file. INVALID_ARGUMENT unless the content type is image/* and the image is not empty;
   * NOT_FOUND if the id is unknown.
   *
   * `POST /api/products/{product_id}/image`
   */
  setProductImage_2(request: WithRequired<SetProductImageRequest, "productId">, options?: CallOptions): Promise<SetProductImageResponse> {
    return this.t.unary<SetProductImageResponse>({ name: "products.v1.ProductService.SetProductImage", method: "POST", path: ["api", "products", { field: ["productId"] }, "image"], body: "*" }, request, options);
  }

  /**
   * Returns the product's image as it was stored, with its content type; NOT_FOUND if the id
   * is unknown or the product has no image.
   * A google.api.HttpBody: the response is the image itself, not a message holding it.
   *
   * `GET /api/products/{product_id}/image`
   */
  getProductImage(request: WithRequired<GetProductImageRequest, "productId">, options?: CallOptions): Promise<Blob> {
    return this.t.blob({ name: "products.v1.ProductService.GetProductImage", method: "GET", path: ["api", "products", { field: ["productId"] }, "image"] }, request, options);
  }
}

/** Manages user accounts. */
export class UserServiceClient {
  private readonly t: Transport;

  constructor(transport: Transport) {
    this.t = transport;
  }

  /**
   * Returns one user; NOT_FOUND if the id is unknown.
   *
   * `GET /api/users/{user_id}`
   */
  getUser(request: WithRequired<GetUserRequest, "userId">, options?: CallOptions): Promise<User> {
    return this.t.unary<User>({ name: "users.v1.UserService.GetUser", method: "GET", path: ["api", "users", { field: ["userId"] }] }, request, options);
  }

  /**
   * Lists users ordered by id, one page at a time.
   *
   * `GET /api/users`
   */
  listUsers(request: ListUsersRequest, options?: CallOptions): Promise<ListUsersResponse> {
    return this.t.unary<ListUsersResponse>({ name: "users.v1.UserService.ListUsers", method: "GET", path: ["api", "users"] }, request, options);
  }

  /**
   * Creates a user; ALREADY_EXISTS if the email is taken.
   *
   * `POST /api/users`
   */
  createUser(request: CreateUserRequest, options?: CallOptions): Promise<User> {
    return this.t.unary<User>({ name: "users.v1.UserService.CreateUser", method: "POST", path: ["api", "users"], body: "user" }, request, options);
  }

  /**
   * Updates the fields named in update_mask (all mutable fields if it is empty). Over REST
   * without ?updateMask=, the gateway names the fields the JSON body sets.
   *
   * `PATCH /api/users/{user.user_id}`
   */
  updateUser(request: UpdateUserRequest, options?: CallOptions): Promise<User> {
    return this.t.unary<User>({ name: "users.v1.UserService.UpdateUser", method: "PATCH", path: ["api", "users", { field: ["user", "userId"] }], body: "user" }, request, options);
  }

  /**
   * Deletes a user; NOT_FOUND if the id is unknown.
   *
   * `DELETE /api/users/{user_id}`
   */
  deleteUser(request: WithRequired<DeleteUserRequest, "userId">, options?: CallOptions): Promise<void> {
    return this.t.unary<void>({ name: "users.v1.UserService.DeleteUser", method: "DELETE", path: ["api", "users", { field: ["userId"] }] }, request, options);
  }
}

/** The answer of `GET /api/user-dashboard/{user_id}`. */
export interface ApiUserDashboardAnswer {
  /** `users.v1.UserService/GetUser`: required, present whenever selected. */
  user: User;
  /** `orders.v1.OrderService/ListOrders`: absent when it failed (see `errors`) or was not selected. */
  orders?: Order[];
  /** `products.v1.ProductService/BatchGetProducts`: absent when it failed (see `errors`) or was not selected. */
  products?: Product[];
  /** The optional calls that failed or could not run. */
  errors: AggregateCallError<"user" | "orders" | "products">[];
}

/** The aggregate routes: several backend calls in one answer. */
export class Aggregates {
  private readonly t: Transport;

  constructor(transport: Transport) {
    this.t = transport;
  }

  /** `GET /api/user-dashboard/{user_id}`: user, orders, products in one call. `fields` runs and shows only the calls it names (and runs what they read). */
  apiUserDashboard<K extends "user" | "orders" | "products" = "user" | "orders" | "products">(params: { user_id: string }, options?: AggregateOptions<K>): Promise<Pick<ApiUserDashboardAnswer, K | "errors">> {
    return this.t.aggregate<Pick<ApiUserDashboardAnswer, K | "errors">>({ name: "GET /api/user-dashboard/{user_id}", method: "GET", path: ["api", "user-dashboard", { field: ["user_id"] }] }, params, options);
  }
}

/**
 * The gateway's API: a member per service (and `aggregates`), each with a function per
 * HTTP binding.
 *
 * ```ts
 * const api = new Gatehouse({ baseUrl: "https://api.example.com", token: () => session.token });
 * ```
 */
export class Gatehouse {
  readonly orderService: OrderServiceClient;
  readonly paymentService: PaymentServiceClient;
  readonly productService: ProductServiceClient;
  readonly userService: UserServiceClient;
  readonly aggregates: Aggregates;

  constructor(options: ClientOptions = {}) {
    const transport = new Transport(options);
    this.orderService = new OrderServiceClient(transport);
    this.paymentService = new PaymentServiceClient(transport);
    this.productService = new ProductServiceClient(transport);
    this.userService = new UserServiceClient(transport);
    this.aggregates = new Aggregates(transport);
  }
}
