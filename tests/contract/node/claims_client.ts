// An ERP integrator's use of the generated claims-api types with openapi-fetch: register a claim,
// read it back by the ERP's own invoice number, sync what changed, and handle a problem by its
// code. tsc --strict checks it against the types generated from the live document.
import createClient from "openapi-fetch";
import type { components, paths } from "./claims-api";

type ClaimIn = components["schemas"]["ClaimIn"];
type ClaimOut = components["schemas"]["ClaimOut"];
type Problem = components["schemas"]["Problem"];

export function claimsClient(baseUrl: string, apiKey: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
}

export async function register(
  client: ReturnType<typeof claimsClient>,
  claim: ClaimIn,
  idempotencyKey: string,
): Promise<ClaimOut | Problem> {
  const { data, error } = await client.POST("/v1/claims", {
    body: claim,
    params: { header: { "Idempotency-Key": idempotencyKey } },
  });
  if (error !== undefined) {
    return error;
  }
  return data;
}

export async function byInvoiceNo(client: ReturnType<typeof claimsClient>, invoiceNo: string): Promise<ClaimOut | null> {
  const { data } = await client.GET("/v1/claims/by-invoice-no/{invoice_no}", {
    params: { path: { invoice_no: invoiceNo } },
  });
  return data ?? null;
}

export async function balanceOf(client: ReturnType<typeof claimsClient>, claimId: string): Promise<number> {
  const { data, error } = await client.GET("/v1/claims/{claim_id}", { params: { path: { claim_id: claimId } } });
  if (error !== undefined) {
    throw new Error(`${error.code}: ${error.detail ?? error.title}`);
  }
  const minor: number = data.balance_minor;
  return minor;
}

// The ERP's nightly sync: every claim changed since the last watermark, page by page.
export async function changedSince(client: ReturnType<typeof claimsClient>, watermark: string): Promise<ClaimOut[]> {
  const changed: ClaimOut[] = [];
  let cursor: string | null = null;
  do {
    const { data, error }: { data?: components["schemas"]["ClaimPage"]; error?: Problem } = await client.GET(
      "/v1/claims",
      { params: { query: { updated_since: watermark, limit: 500, cursor } } },
    );
    if (error !== undefined || data === undefined) {
      throw new Error(error?.code ?? "no answer");
    }
    changed.push(...data.items);
    cursor = data.next_cursor;
  } while (cursor !== null);
  return changed;
}

export const example: ClaimIn = {
  invoice_no: "INV-2026-0042",
  debtor: { customer_no: "C-1001", name: "Jón Jónsson", country: "IS", email: "jon@example.is" },
  amount_minor: 125_000,
  currency: "ISK",
  due_date: "2026-12-01",
};

// What the types must refuse (tsc fails if any of these lines stops being an error).
export const refused = [
  // @ts-expect-error an amount is integer minor units, never a decimal string
  { ...example, amount_minor: "1250.00" } satisfies ClaimIn,
  // @ts-expect-error the ERP's invoice number is required
  { debtor: example.debtor, amount_minor: 1, currency: "ISK", due_date: "2026-12-01" } satisfies ClaimIn,
  // @ts-expect-error a claim has no such status
  "overdue" satisfies ClaimOut["status"],
  // @ts-expect-error every problem has a stable code
  { type: "about:blank", title: "Not Found", status: 404 } satisfies Problem,
];

export async function noSuchRoute(client: ReturnType<typeof claimsClient>): Promise<void> {
  // @ts-expect-error a path the API does not have
  await client.GET("/v1/claim/{claim_id}", { params: { path: { claim_id: "x" } } });
}
