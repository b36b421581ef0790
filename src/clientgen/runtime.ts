// What every client `gatehouse client typescript` writes shares: the call options, the one
// error class, and the transport the generated service classes call. Uses fetch (and
// WebSocket for methods that stream both ways) and nothing else. Generated; do not edit.

/** Any JSON value: what a `google.protobuf.Value` holds. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A `google.protobuf.Any`: the message's type URL and its JSON members. */
export interface AnyMessage {
  "@type": string;
  [member: string]: unknown;
}

/** A float or double: a number, or the string proto3 JSON writes for a value that is not finite. */
export type ProtoFloat = number | "NaN" | "Infinity" | "-Infinity";

/** `T` without the members `K` (of each member of a union). */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** `T` with the members `K` present (of each member of a union). */
export type WithRequired<T, K extends PropertyKey> = T extends unknown
  ? T & { [P in K & keyof T]-?: Exclude<T[P], undefined> }
  : never;

/** `T` whose member `K` holds a raw body instead of its message. */
export type WithRawBody<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> & { [P in K]?: Blob } : never;

/** How a client reaches the gateway. */
export interface ClientOptions {
  /** The gateway's origin, `https://api.example.com`; by default the page's own. */
  baseUrl?: string;
  /** Asked before every call: the bearer token to send, or nothing to send none. */
  token?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Headers sent with every call. */
  headers?: Record<string, string>;
  /** The fetch to call; the global one by default. */
  fetch?: typeof fetch;
}

/** Options of one call. */
export interface CallOptions {
  /** Aborts the call; an aborted call rejects with the signal's reason, as fetch does. */
  signal?: AbortSignal;
  /**
   * The call's deadline in milliseconds, sent as `Grpc-Timeout`: once it passes, the gateway
   * cancels the backend call and the call fails with DEADLINE_EXCEEDED (504).
   */
  timeoutMs?: number;
  /** Headers sent with this call. */
  headers?: Record<string, string>;
}

/** Options of an aggregate call: the calls to run and show (`?fields=`), all by default. */
export interface AggregateOptions<K extends string> extends CallOptions {
  fields?: readonly K[];
}

/** One optional call of an aggregate that failed or could not run. */
export interface AggregateCallError<K extends string> {
  call: K;
  /** The google.rpc.Code. */
  code: number;
  message: string;
}

/** The google.rpc.Code names, by number. */
const CODE_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
  "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

/** The HTTP status the gateway answers for each google.rpc.Code, by number. */
const CODE_STATUSES = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** Every failed call: the HTTP status, the google.rpc.Status the gateway answered, and its details. */
export class ApiError extends Error {
  /**
   * The HTTP status: the answer's, or for a stream that failed after it began, the one the
   * code maps to; 0 when the gateway could not be reached.
   */
  readonly status: number;
  /** The google.rpc.Code (UNAVAILABLE when the gateway could not be reached). */
  readonly code: number;
  /** The google.rpc.Status details: `google.rpc.ErrorInfo`, `google.rpc.BadRequest`, ... */
  readonly details: AnyMessage[];
  /** The gateway's `x-request-id` for the call, when the answer carried one. */
  readonly requestId: string | null;

  constructor(status: number, code: number, message: string, details: AnyMessage[], requestId: string | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  /** The code's name: `NOT_FOUND`, `INVALID_ARGUMENT`, ... */
  get codeName(): string {
    return CODE_NAMES[this.code] ?? `CODE_${this.code}`;
  }

  /** The `reason` of the `google.rpc.ErrorInfo` among the details (`ROUTE_NOT_FOUND`), if any. */
  get reason(): string | undefined {
    const info = this.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
    const reason = info?.["reason"];
    return typeof reason === "string" ? reason : undefined;
  }
}

/** One segment of a binding's path: literal text, a request field, or an unnamed `*`. */
export type PathPart = string | { field: readonly string[]; multi?: boolean } | { wildcard: number; multi?: boolean };

/** How the gateway reads one HTTP binding, as the generated code describes it. */
export interface Route {
  /** `Service.Method`, for messages. */
  name: string;
  method: string;
  path: readonly PathPart[];
  verb?: string;
  /** `*` for the whole message, a member name for one field; absent when there is no body. */
  body?: string;
  /** The body is raw bytes (a `google.api.HttpBody`), sent as a Blob with its own type. */
  raw?: boolean;
}

type Json = { [key: string]: unknown };

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Blob);
}

/** A path segment as the gateway reads it back: every byte that is not unreserved escaped. */
function encodeSegment(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** `value` without the member at `path` (copied along the path; the rest shared). */
function without(value: Json, path: readonly string[]): Json {
  const [first, ...rest] = path;
  if (first === undefined || !(first in value)) {
    return value;
  }
  const copy = { ...value };
  if (rest.length === 0) {
    delete copy[first];
  } else if (isObject(copy[first])) {
    copy[first] = without(copy[first] as Json, rest);
  }
  return copy;
}

function memberAt(value: Json, path: readonly string[]): unknown {
  let here: unknown = value;
  for (const name of path) {
    if (!isObject(here)) {
      return undefined;
    }
    here = here[name];
  }
  return here;
}

/** Query parameters for `value` under `name`: dotted names into messages, a list repeated. */
function appendQuery(query: URLSearchParams, name: string, value: unknown, route: Route): void {
  if (value === undefined || value === null) {
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isObject(item) || Array.isArray(item)) {
        throw new TypeError(`${route.name}: ${name} cannot be sent in the query string`);
      }
      query.append(name, String(item));
    }
  } else if (isObject(value)) {
    for (const [member, inner] of Object.entries(value)) {
      appendQuery(query, name ? `${name}.${member}` : member, inner, route);
    }
  } else {
    query.append(name, String(value));
  }
}

/** The status the gateway answers for `code`. */
function statusOf(code: number): number {
  return CODE_STATUSES[code] ?? 500;
}

/** The google.rpc.Code an HTTP status stands for, when an answer carries no status of its own. */
function codeOf(status: number): number {
  const code = CODE_STATUSES.indexOf(status);
  return code > 0 ? code : 2;
}

/** An ApiError from a google.rpc.Status (or problem details) in JSON, or from what an answer was. */
function errorFrom(status: number, body: unknown, fallback: string, requestId: string | null): ApiError {
  const code = isObject(body) ? body["code"] : undefined;
  if (isObject(body) && typeof code === "number") {
    const text = body["message"] ?? body["detail"];
    const message = typeof text === "string" ? text : fallback;
    const details = body["details"];
    return new ApiError(status, code, message, Array.isArray(details) ? (details as AnyMessage[]) : [], requestId);
  }
  return new ApiError(status, codeOf(status), fallback, [], requestId);
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const fallback = text || response.statusText || `HTTP ${response.status}`;
  return errorFrom(response.status, body, fallback, response.headers.get("x-request-id"));
}

/** A fetch that failed before any answer: rethrown as it is when aborted, else UNAVAILABLE. */
function unreachable(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted || (error instanceof DOMException && error.name === "AbortError")) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(0, 14, `the gateway could not be reached: ${message}`, [], null);
}

/** The item a stream's line carries, or the error that ended the stream. */
function streamItem<R>(line: string, requestId: string | null): R {
  const item: unknown = JSON.parse(line);
  // The gateway ends a failing stream with {"error": <google.rpc.Status>}.
  const error = isObject(item) && Object.keys(item).length === 1 ? item["error"] : undefined;
  const code = isObject(error) ? error["code"] : undefined;
  if (typeof code === "number") {
    throw errorFrom(statusOf(code), error, "the stream failed", requestId);
  }
  return item as R;
}

/** The calls the generated service classes make. */
export class Transport {
  private readonly options: ClientOptions;

  constructor(options: ClientOptions = {}) {
    this.options = options;
  }

  /** A unary call: its response (`undefined` for an answer without content). */
  async unary<R>(route: Route, request: object, options?: CallOptions, wildcards?: readonly string[]): Promise<R> {
    const response = await this.send(route, request as Json, "application/json", options, wildcards);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as R;
  }

  /** A call answered by raw bytes (`google.api.HttpBody`), as a Blob of their type. */
  async blob(route: Route, request: object, options?: CallOptions, wildcards?: readonly string[]): Promise<Blob> {
    const response = await this.send(route, request as Json, "*/*", options, wildcards);
    return response.blob();
  }

  /**
   * A server stream, read as NDJSON: one message per line, as they arrive. Leaving the loop
   * early cancels the call.
   */
  async *serverStream<R>(
    route: Route,
    request: object,
    options?: CallOptions,
    wildcards?: readonly string[],
  ): AsyncGenerator<R, void, undefined> {
    const response = await this.send(route, request as Json, "application/x-ndjson", options, wildcards);
    const requestId = response.headers.get("x-request-id");
    if (response.body === null) {
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for (;;) {
        const chunk = await reader.read().catch((error: unknown) => {
          throw unreachable(error, options?.signal);
        });
        if (chunk.done) {
          break;
        }
        pending += decoder.decode(chunk.value, { stream: true });
        let end: number;
        while ((end = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, end).trim();
          pending = pending.slice(end + 1);
          if (line) {
            yield streamItem<R>(line, requestId);
          }
        }
      }
      const rest = (pending + decoder.decode()).trim();
      if (rest) {
        yield streamItem<R>(rest, requestId);
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  /**
   * A client stream: every message, as NDJSON, in one request body. The path and the query
   * come from the first message (the gateway sets them in every message).
   */
  async clientStream<R>(
    route: Route,
    requests: Iterable<object> | AsyncIterable<object>,
    options?: CallOptions,
    wildcards?: readonly string[],
  ): Promise<R> {
    let first: Json | undefined;
    const lines: string[] = [];
    for await (const message of requests) {
      first ??= message as Json;
      const body = this.bodyOf(route, message as Json);
      lines.push(JSON.stringify(body ?? {}) + "\n");
    }
    const ndjson = new Blob(lines, { type: "application/x-ndjson" });
    const response = await this.send({ ...route, raw: true }, first ?? {}, "application/json", options, wildcards, ndjson);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as R;
  }

  /**
   * A call that streams both ways, over a WebSocket on the binding's path. `params` fills the
   * path and the query (and through them every message).
   */
  bidi<Q, R>(route: Route, params: object, options?: CallOptions, wildcards?: readonly string[]): BidiCall<Q, R> {
    const url = new URL(this.target(route, params as Json, wildcards, false), this.origin());
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (options?.timeoutMs !== undefined) {
      url.searchParams.set("timeout", `${Math.ceil(options.timeoutMs)}m`);
    }
    const token = this.options.token ? Promise.resolve(this.options.token()) : Promise.resolve(undefined);
    return new BidiCall<Q, R>(url.toString(), token, options?.signal);
  }

  /** An aggregate: its path variables and query parameters, and the calls `fields` selects. */
  async aggregate<R>(
    route: Route,
    params: Record<string, string | undefined>,
    options?: AggregateOptions<string>,
  ): Promise<R> {
    const query: Record<string, string | undefined> = { ...params };
    if (options?.fields !== undefined) {
      query["fields"] = options.fields.join(",");
    }
    return this.unary<R>(route, query, options);
  }

  private origin(): string {
    const base = this.options.baseUrl ?? "";
    return base || globalThis.location?.origin || "http://localhost";
  }

  /** What the body carries of `request`, or undefined when the binding has none. */
  private bodyOf(route: Route, request: Json): unknown {
    if (route.body === undefined) {
      return undefined;
    }
    if (route.body !== "*") {
      return request[route.body];
    }
    let body = request;
    for (const part of route.path) {
      if (typeof part === "object" && "field" in part) {
        body = without(body, part.field);
      }
    }
    return body;
  }

  /** The path and query of `request` on `route`. */
  private target(route: Route, request: Json, wildcards: readonly string[] | undefined, withBody: boolean): string {
    let path = "";
    let rest = request;
    for (const part of route.path) {
      if (typeof part === "string") {
        path += "/" + encodeSegment(part);
      } else if ("wildcard" in part) {
        const value = wildcards?.[part.wildcard];
        if (value === undefined || value === "") {
          throw new TypeError(`${route.name}: path segment ${part.wildcard + 1} (a *) is needed`);
        }
        path += "/" + (part.multi ? value.split("/").map(encodeSegment).join("/") : encodeSegment(value));
      } else {
        const value = memberAt(request, part.field);
        if (value === undefined || value === null || value === "") {
          throw new TypeError(`${route.name}: ${part.field.join(".")} is needed for the path`);
        }
        const text = String(value);
        path += "/" + (part.multi ? text.split("/").map(encodeSegment).join("/") : encodeSegment(text));
        rest = without(rest, part.field);
      }
    }
    path = path || "/";
    if (route.verb !== undefined) {
      path += ":" + route.verb;
    }
    if (withBody && route.body === "*") {
      return path;
    }
    if (withBody && route.body !== undefined) {
      rest = without(rest, [route.body]);
    }
    const query = new URLSearchParams();
    appendQuery(query, "", rest, route);
    const text = query.toString();
    return text ? `${path}?${text}` : path;
  }

  /** Sends one request and returns the answer when it is a success; throws ApiError otherwise. */
  private async send(
    route: Route,
    request: Json,
    accept: string,
    options: CallOptions | undefined,
    wildcards: readonly string[] | undefined,
    stream?: Blob,
  ): Promise<Response> {
    const target = this.target(route, request, wildcards, true);
    const headers: Record<string, string> = { Accept: accept, ...this.options.headers };
    let body: BodyInit | undefined;
    if (stream !== undefined) {
      body = stream;
      headers["Content-Type"] = stream.type;
    } else {
      const value = this.bodyOf(route, request);
      if (route.raw && value instanceof Blob) {
        body = value;
        headers["Content-Type"] = value.type || "application/octet-stream";
      } else if (value !== undefined) {
        body = JSON.stringify(value);
        headers["Content-Type"] = "application/json";
      }
    }
    const token = this.options.token ? await this.options.token() : undefined;
    if (token) {
      headers["Authorization"] = `Bearer ${token}`;
    }
    if (options?.timeoutMs !== undefined) {
      headers["Grpc-Timeout"] = `${Math.max(1, Math.ceil(options.timeoutMs))}m`;
    }
    Object.assign(headers, options?.headers);
    const fetcher = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    let response: Response;
    try {
      response = await fetcher((this.options.baseUrl ?? "") + target, {
        method: route.method,
        headers,
        body: body ?? null,
        signal: options?.signal ?? null,
      });
    } catch (error) {
      throw unreachable(error, options?.signal);
    }
    if (!response.ok) {
      throw await failure(response);
    }
    return response;
  }
}

/**
 * A call that streams both ways, over a WebSocket: `send` messages, `end` your side, and read
 * the replies with `for await`. The loop ends when the call ends with OK and throws ApiError
 * when it ends otherwise; leaving it early, or `close`, cancels the call.
 */
export class BidiCall<Q, R> implements AsyncIterable<R> {
  private readonly socket: Promise<WebSocket>;
  private readonly replies: R[] = [];
  private outcome: ApiError | "ok" | undefined;
  private wake: (() => void) | undefined;

  constructor(url: string, token: Promise<string | null | undefined>, signal?: AbortSignal) {
    this.socket = token.then((token) => {
      const protocols = token ? ["gatehouse.v1", `bearer.${token}`] : ["gatehouse.v1"];
      const socket = new WebSocket(url, protocols);
      socket.onmessage = (event) => this.receive(String(event.data));
      socket.onclose = () => this.finish(new ApiError(0, 14, "the WebSocket closed before the call's status", [], null));
      signal?.addEventListener("abort", () => this.close());
      return new Promise<WebSocket>((resolve, reject) => {
        socket.onopen = () => resolve(socket);
        socket.onerror = () => {
          const error = new ApiError(0, 14, "the WebSocket could not be opened", [], null);
          this.finish(error);
          reject(error);
        };
      });
    });
    // A failure to open is reported by the loop (and by send).
    this.socket.catch(() => undefined);
  }

  /** Sends one message. */
  async send(message: Q): Promise<void> {
    (await this.socket).send(JSON.stringify(message));
  }

  /** Ends the messages this side sends (half-close); replies keep coming. */
  async end(): Promise<void> {
    (await this.socket).send("");
  }

  /** Cancels the call. */
  close(): void {
    this.finish(new ApiError(499, 1, "cancelled by the client", [], null));
    this.socket.then((socket) => socket.close(1000), () => undefined);
  }

  private receive(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      this.finish(new ApiError(0, 13, "the gateway sent a frame that is not JSON", [], null));
      this.close();
      return;
    }
    if (isObject(frame) && frame["@type"] === "type.googleapis.com/google.rpc.Status") {
      const number = frame["code"];
      const code = typeof number === "number" ? number : 0;
      this.finish(code === 0 ? "ok" : errorFrom(statusOf(code), frame, "the call failed", null));
      return;
    }
    this.replies.push(frame as R);
    this.wake?.();
  }

  private finish(outcome: ApiError | "ok"): void {
    this.outcome ??= outcome;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<R, void, undefined> {
    try {
      for (;;) {
        const reply = this.replies.shift();
        if (reply !== undefined) {
          yield reply;
          continue;
        }
        if (this.outcome === "ok") {
          return;
        }
        if (this.outcome !== undefined) {
          throw this.outcome;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      if (this.outcome === undefined) {
        this.close();
      }
    }
  }
}
