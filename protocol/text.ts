/**
 * What text other users see may contain: one set of rules for nicknames, interests and chat,
 * applied by the server's schemas and by the web client before it sends. Text that breaks a rule
 * is refused with a message saying why, never silently changed (README, Decisions); the only
 * rewrites are the ones nobody can see: outer spaces trimmed, line ends as `\n`, Unicode NFC.
 */

// C0 and C1 controls: NUL, BEL, ESC (ANSI sequences), CR, DEL... They break layouts, logs and terminals.
const controls = /[\p{Cc}]/u;
const controlsButNewline = /[^\P{Cc}\n]/u;
// Bidi embeddings, overrides and isolates: they make text read in another order than it is stored
// ("ann\u202Egnp.exe" shows as "annexe.png").
const bidiControls = /[\u202A-\u202E\u2066-\u2069]/u;
// In a name, the bidi marks (LRM, RLM, ALM) reorder what follows as well; a chat line may need them.
const bidiMarks = /[\u200E\u200F\u061C]/u;
// Lone surrogates cannot be stored or shown.
const surrogates = /\p{Cs}/u;
// Invisible in a name: format characters (zero-width space, word joiner, BOM, soft hyphen...),
// except the joiners that emoji sequences and some scripts need, and the tag characters of
// subdivision flags (🏴 followed by tags), which are refused anywhere else.
// eslint-disable-next-line no-misleading-character-class -- the joiners are listed on purpose, to be allowed
const invisibleFormat = /[^\P{Cf}\u200C\u200D\u{E0020}-\u{E007F}]/u;
const strayTag = /(?<![\u{1F3F4}\u{E0020}-\u{E007F}])[\u{E0020}-\u{E007F}]/u;
// A character that shows: not a space, not a format character, not a mark on its own, not a
// default-ignorable code point (Hangul fillers, variation selectors) and not the blank braille cell.
const visible = /[^\p{White_Space}\p{Cf}\p{M}\p{Default_Ignorable_Code_Point}\u2800]/u;
// A joiner joins two characters: at either end of a name it only hides an invisible difference.
const outerJoiner = /^[\u200C\u200D]|[\u200C\u200D]$/u;

/** Why a nickname is refused, or null when it may be used (after `normaliseNickname`). */
export function nicknameProblem(name: string): string | null {
  if (controls.test(name) || surrogates.test(name)) return "must not contain control characters";
  if (bidiControls.test(name) || bidiMarks.test(name)) return "must not contain text direction controls";
  if (invisibleFormat.test(name) || strayTag.test(name) || outerJoiner.test(name)) return "must not contain invisible characters";
  if (!visible.test(name)) return "must contain a visible character";
  return null;
}

/** Why a chat message is refused, or null when it may be sent (after `normaliseChat`). */
export function chatProblem(text: string): string | null {
  if (controlsButNewline.test(text) || surrogates.test(text)) return "must not contain control characters other than new lines";
  if (bidiControls.test(text)) return "must not contain text direction overrides";
  if (!visible.test(text)) return "must contain a visible character";
  return null;
}

/** Why an interest is refused, or null. Interests are shown to the peer like a name. */
export const interestProblem = nicknameProblem;

/** Trimmed, NFC. */
export const normaliseNickname = (name: string): string => name.normalize("NFC").trim();

/** Line ends as `\n`, trimmed, NFC. */
export const normaliseChat = (text: string): string => text.replace(/\r\n?/g, "\n").normalize("NFC").trim();
