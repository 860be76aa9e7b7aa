// The worker's handlers for urgent consults and notification channels: thin calls into the
// core (crates/medshare-wasm/src/consults.rs). Answering a consult writes to a case room, so
// the room state is kept afterwards like every other room call.
import type { Core } from "./pkg/medshare_wasm";
import type { Ops } from "./protocol";

type ConsultOps =
  | "consults"
  | "requestConsult"
  | "consult"
  | "ackConsult"
  | "answerConsult"
  | "oncallLists"
  | "notifyChannels"
  | "addNotifyChannel"
  | "vapidKey"
  | "addPushChannel"
  | "removeNotifyChannel"
  | "testNotifyChannel";

type Handlers = { [K in ConsultOps]: (args: Ops[K][0], id: number) => Promise<Ops[K][1]> };

export function consultHandlers(getCore: () => Promise<Core>, persistRooms: (c: Core) => Promise<void>): Handlers {
  return {
    async consults() {
      return (await getCore()).consults();
    },
    async requestConsult({ ask }) {
      return (await getCore()).request_consult(ask);
    },
    async consult({ consultId }) {
      return (await getCore()).consult(consultId);
    },
    async ackConsult({ consultId }) {
      return (await getCore()).ack_consult(consultId);
    },
    async answerConsult({ consultId, text }) {
      const c = await getCore();
      try {
        return await c.answer_consult(consultId, text);
      } finally {
        await persistRooms(c);
      }
    },
    async oncallLists({ institution }) {
      return (await getCore()).oncall_lists(institution || undefined);
    },
    async notifyChannels() {
      return (await getCore()).notify_channels();
    },
    async addNotifyChannel({ kind, address, secret }) {
      return (await getCore()).add_notify_channel(kind, address, secret || undefined);
    },
    async vapidKey() {
      return (await getCore()).vapid_key();
    },
    async addPushChannel({ endpoint, p256dh, auth }) {
      return (await getCore()).add_push_channel(endpoint, p256dh, auth);
    },
    async removeNotifyChannel({ channelId }) {
      return (await getCore()).remove_notify_channel(channelId);
    },
    async testNotifyChannel({ channelId }) {
      return (await getCore()).test_notify_channel(channelId);
    },
  };
}
