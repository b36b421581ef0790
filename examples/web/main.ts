// A page of the demo shop that calls `gatehouse demo` through the generated client in api/
// (`gatehouse client typescript --demo --out examples/web/api`). Build with
// `npx -p typescript tsc -p examples/web`, serve this folder, and open it: see the README.

import { ApiError, Gatehouse } from "./api/index.js";

const gateway = new URLSearchParams(location.search).get("gateway") ?? "http://localhost:8080";
const tokenInput = document.querySelector<HTMLInputElement>("#token")!;
tokenInput.value = localStorage.getItem("gatehouse-demo-token") ?? "";
tokenInput.addEventListener("change", () => localStorage.setItem("gatehouse-demo-token", tokenInput.value.trim()));

// One client for the page: every call asks for the current token.
const api = new Gatehouse({ baseUrl: gateway, token: () => tokenInput.value.trim() || undefined });

function show(id: string, items: string[]): void {
  const list = document.getElementById(id)!;
  list.replaceChildren(
    ...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}

/** Errors arrive as one class: the HTTP status, the google.rpc code and its details. */
function report(error: unknown): void {
  const text =
    error instanceof ApiError
      ? `${error.status} ${error.codeName}: ${error.message}${error.reason ? ` (${error.reason})` : ""}`
      : String(error);
  document.getElementById("error")!.textContent = text;
}

async function products(): Promise<void> {
  // Public: no token needed. Prices are int64, so strings.
  const page = await api.productService.listProducts({ pageSize: 10 });
  show("products", (page.products ?? []).map((p) => `${p.productId}: ${p.name} (${p.priceCents} ${p.currency})`));
}

async function dashboard(): Promise<void> {
  const userId = subject();
  const answer = await api.aggregates.apiUserDashboard({ user_id: userId }, { fields: ["user", "orders"] });
  document.getElementById("dashboard")!.textContent = JSON.stringify(answer, null, 2);
}

async function order(): Promise<void> {
  // productId and quantity are REQUIRED in the proto: leaving one out does not compile.
  const placed = await api.orderService.createOrder({ lineItems: [{ productId: "p-100", quantity: 1 }] });
  document.getElementById("error")!.textContent = `placed ${placed.orderId} (${placed.totalCents} ${placed.currency})`;
}

/** Follows the user's orders over a WebSocket: every change shows up as it happens. */
async function follow(): Promise<void> {
  const call = api.orderService.followOrders({});
  await call.send({ userId: subject() });
  const lines: string[] = [];
  for await (const change of call) {
    lines.unshift(`${change.event}: ${change.order?.orderId} ${change.order?.status}`);
    show("live", lines.slice(0, 20));
  }
}

/** The user the token is for (its `sub`), to ask for their dashboard. */
function subject(): string {
  const payload = tokenInput.value.split(".")[1] ?? "";
  const claims: unknown = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  return typeof claims === "object" && claims !== null && "sub" in claims ? String(claims.sub) : "";
}

document.getElementById("load")!.addEventListener("click", () => {
  dashboard().catch(report);
  follow().catch(report);
});
document.getElementById("order")!.addEventListener("click", () => order().catch(report));
products().catch(report);
