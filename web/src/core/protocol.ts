// The messages between the page and the worker that holds the client core. The worker owns
// every key; the page only ever receives views (names, titles, decrypted bytes to show).
import type {
  Account,
  AuditEntryView,
  AuditHead,
  BreakGlassReview,
  ConsentView,
  EnrolmentCodeView,
  EnrolledView,
  EnrolmentView,
  LogReport,
  NewMember,
  PendingView,
  DocumentInfo,
  EventView,
  GrantView,
  IdentifierCheck,
  IntakeView,
  Person,
  RoomDetail,
  RoomLine,
  RoomSummary,
  TimelineView,
  TrendView,
  UploadChoices,
} from "./pkg/medshare_wasm";
import type { ChannelAdded, ChannelInfo, ConsultAsk, ConsultDetail, ConsultList, OncallView } from "./pkg/medshare_wasm";

export type { ChannelAdded, ChannelInfo, ConsultAsk, ConsultDetail, ConsultList, OncallView };
// Photos and scans read on this device: the reading goes to the classification module
// (pkg-classify, `classify_ocr`), its classification to the core's `intake`.
import type { OcrClassified, OcrReading, OcrReadingPage, OcrReadingWord } from "./pkg-classify/medshare_wasm_classify";

export type { OcrReading, OcrReadingPage, OcrReadingWord };
import type { ScanPage } from "../ocr/scan";

/** What classifying a photo's or scan's reading found: the file as the core now holds it, and
 * how well the page was read. */
export interface OcrIntakeView extends Omit<OcrClassified, "classification"> {
  intake: IntakeView;
}

export type {
  Account,
  AuditEntryView,
  AuditHead,
  BreakGlassReview,
  ConsentView,
  EnrolmentCodeView,
  EnrolledView,
  EnrolmentView,
  LogReport,
  NewMember,
  PendingView,
  DocumentInfo,
  EventView,
  GrantView,
  IdentifierCheck,
  IntakeView,
  Person,
  RoomDetail,
  RoomLine,
  RoomSummary,
  TimelineView,
  TrendView,
  UploadChoices,
};

/** Every operation the worker offers: arguments and result. */
export interface Ops {
  login: [args: { handle: string; passphrase: string; totp?: string; sandbox: boolean }, result: Account];
  logout: [args: Record<string, never>, result: void];
  lock: [args: Record<string, never>, result: void];
  timeline: [args: { identifier: string }, result: TimelineView];
  open: [args: { documentId: string }, result: DocumentInfo];
  /** The opened file: on this device's disk where the browser has OPFS (./spool.ts) until `release`. */
  download: [args: { documentId: string; mediaType: string }, result: Blob];
  /** The page closed the document: its opened file is removed. */
  release: [args: { documentId: string }, result: void];
  inbox: [args: { since: number }, result: EventView[]];
  follow: [args: { since: number }, result: void];
  witness: [args: Record<string, never>, result: AuditHead];
  checkIdentifier: [args: { text: string }, result: IdentifierCheck];
  fingerprint: [args: Record<string, never>, result: string | null];
  classify: [args: { key: string; file: File }, result: IntakeView];
  namesOtherPatient: [args: { key: string; identifier: string }, result: boolean];
  forgetFile: [args: { key: string }, result: void];
  upload: [args: { key: string; file: File; identifier: string; choices: UploadChoices }, result: DocumentInfo];
  colleagues: [args: Record<string, never>, result: Person[]];
  share: [args: { documentId: string; with: string; expiresAt?: string }, result: Person];
  revoke: [args: { documentId: string; handle: string }, result: Person];
  grants: [args: { documentId: string }, result: GrantView[]];
  breakGlass: [args: { identifier: string; reason: string }, result: string];
  declareCare: [args: { identifier: string }, result: void];
  labTrends: [args: { identifier: string }, result: TrendView[]];
  consent: [args: { identifier: string }, result: ConsentView];
  /** `to`: `alliance` or an institution's code. */
  grantConsent: [args: { identifier: string; to: string }, result: void];
  revokeConsent: [args: { identifier: string; to: string }, result: void];
  verifyLog: [args: Record<string, never>, result: LogReport];
  /** `since`: Unix seconds. */
  auditLog: [args: { patient?: string; practitioner?: string; since?: number }, result: AuditEntryView[]];
  breakGlassReview: [args: { id: number }, result: BreakGlassReview];
  accessExport: [args: { identifier: string }, result: Blob];
  invite: [args: { member: NewMember }, result: EnrolmentCodeView];
  pending: [args: Record<string, never>, result: PendingView[]];
  certify: [args: { practitionerId: string; fingerprint?: string }, result: string];
  members: [args: Record<string, never>, result: Person[]];
  removeMember: [args: { practitionerId: string }, result: void];
  // Case rooms (MLS in the worker; state sealed in IndexedDB).
  rooms: [args: Record<string, never>, result: RoomSummary[]];
  room: [args: { roomId: string }, result: RoomDetail];
  createRoom: [args: { title: string; with: string[] }, result: string];
  sendText: [args: { roomId: string; text: string; replyTo?: number }, result: number];
  react: [args: { roomId: string; seq: number; emoji: string }, result: number];
  editMessage: [args: { roomId: string; seq: number; text: string }, result: number];
  deleteMessage: [args: { roomId: string; seq: number }, result: number];
  markRoomRead: [args: { roomId: string; seq: number }, result: void];
  postDocument: [args: { roomId: string; documentId: string }, result: number];
  inviteToRoom: [args: { roomId: string; who: string[] }, result: void];
  removeFromRoom: [args: { roomId: string; who: string[] }, result: void];
  /** A recorded or picked voice note; its type is recognised from its bytes in the core. */
  postVoice: [args: { roomId: string; audio: Blob; durationMs?: number }, result: number];
  /** The voice note opened in the worker, as a Blob of its checked media type. */
  openVoice: [args: { roomId: string; seq: number; mediaType: string }, result: Blob];
  // Enrolment on this device with an administrator's one-time code (keys made in the worker).
  enrolment: [args: { code: string }, result: EnrolmentView];
  enrol: [args: { code: string; passphrase: string }, result: EnrolledView];
  // Urgent consults and notification channels (core/consults-worker.ts).
  consults: [args: Record<string, never>, result: ConsultList];
  requestConsult: [args: { ask: ConsultAsk }, result: string];
  consult: [args: { consultId: string }, result: ConsultDetail];
  ackConsult: [args: { consultId: string }, result: ConsultDetail];
  /** Resolves to the room the answer was posted in. */
  answerConsult: [args: { consultId: string; text: string }, result: string];
  /** `institution`: a code; none for one's own. */
  oncallLists: [args: { institution?: string }, result: OncallView[]];
  notifyChannels: [args: Record<string, never>, result: ChannelInfo[]];
  addNotifyChannel: [args: { kind: string; address: string; secret?: string }, result: ChannelAdded];
  vapidKey: [args: Record<string, never>, result: string];
  addPushChannel: [args: { endpoint: string; p256dh: string; auth: string }, result: ChannelInfo];
  removeNotifyChannel: [args: { channelId: string }, result: void];
  testNotifyChannel: [args: { channelId: string }, result: void];
  /** Whether a classified file is a photo or scan to read on this device first (OCR). */
  needsOcr: [args: { key: string }, result: boolean];
  /** Classify a photo or scan from what the on-device OCR read (`web/src/ocr`). */
  classifyOcr: [args: { key: string; file: File; reading: OcrReading }, result: OcrIntakeView];
  /** Page `index` (from 0) of a scanned PDF, its image taken out for the on-device OCR. */
  scanPage: [args: { file: File; index: number }, result: ScanPage];
  /** Prepare the cached view of a patient number as it is typed (no hub request), for the
   * `timeline` of that number to show at once. */
  prepareTimeline: [args: { identifier: string }, result: void];
}

export type OpName = keyof Ops;

export interface Request<K extends OpName = OpName> {
  id: number;
  op: K;
  args: Ops[K][0];
}

export interface CoreErrorShape {
  /** `trust`, `api:<code>`, `invalid`, `network`, `crypto`, `locked`. */
  name: string;
  message: string;
}

export type Reply =
  | { id: number; ok: true; value: unknown; /** `value` is JSON text to parse. */ json?: boolean }
  | { id: number; ok: false; error: CoreErrorShape }
  | { id: 0; event: "notification"; value: EventView }
  | { id: 0; event: "stream-ended"; value: { error?: CoreErrorShape } }
  | { id: 0; event: "progress"; value: { op: number; bytes: number } }
  /** A first result of operation `op` (JSON) while it goes on: a timeline from this device's
   * cache, replaced by the operation's own result. */
  | { id: 0; event: "early"; value: { op: number; json: string } };
