/** Size and rate caps shared by every client and the server. Changing one is a protocol change. */
export const limits = {
  nicknameMax: 32,
  emailMax: 254,
  passwordMin: 8,
  passwordMax: 128,
  interestsMax: 10,
  interestMax: 32,
  /** One SDP blob; real offers with many codecs stay under 20 KiB. */
  sdpMax: 64 * 1024,
  candidateMax: 1024,
  chatTextMax: 1000,
  reportDetailsMax: 1000,
  /** The operator's reason for a ban, shown to the banned user. */
  banReasonMax: 500,
  /** Keys in one `call:stats` payload. */
  statsKeysMax: 64,
  /** One `call:stats` payload as JSON: real ones are under 1 KiB. */
  statsBytesMax: 4 * 1024,
  /** Socket.IO frame cap (`maxHttpBufferSize`): a little above the largest valid event. */
  frameMax: 96 * 1024,
  /** REST body cap. */
  bodyMax: 16 * 1024,
  idMax: 64,
} as const;
