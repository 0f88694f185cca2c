// The request kinds of the browser <-> kernel protocol, from the one table both sides read
// (qwidgets/protocol/request_kinds.json, bundled in by esbuild). A kind missing from the table
// is a type error here rather than an "unknown request kind" answer at run time.
import { control, requests } from "../../../qwidgets/protocol/request_kinds.json";

// What a view asks of the kernel; each has a handler on the Python side.
export type RequestKind = keyof typeof requests;
// The protocol's own messages: cancelling a request and answering one.
export type ControlKind = keyof typeof control;
export type Kind = RequestKind | ControlKind;

function names<K extends string>(table: Record<K, string>): { readonly [N in K]: N } {
  return Object.fromEntries(Object.keys(table).map((k) => [k, k])) as { readonly [N in K]: N };
}

export const REQUEST = names<RequestKind>(requests);
export const CONTROL = names<ControlKind>(control);
