import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chatSend, guestBody, lobbyJoin } from "./index.ts";

const nickOk = (nickname: string) => guestBody.safeParse({ nickname }).success;
const chatOk = (text: string) => chatSend.safeParse({ sessionId: "s1", text }).success;

/** Characters no text from a user may carry: C0/C1 controls and bidi embeddings, overrides and isolates. */
const forbidden = [..."\u0000\u0007\u0008\u000b\u000c\u000d\u001b\u007f\u0080\u0085\u009b\u009f", ..."\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"];
const invisible = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3164", "\u115f", "\u2800", "\u180e", "\ufe0f", " ", "\u00a0", "\u3000"];

describe("content rules (protocol/text.ts)", () => {
  it("refuses nicknames with no visible character", () => {
    for (const name of ["\u200b", "\u200b\u200b", "\u3164", "\u2800", "\u00ad", "\u200d", "\ufe0f", " \u200b "]) {
      expect(nickOk(name), JSON.stringify(name)).toBe(false);
    }
  });

  it("refuses invisible and direction characters inside nicknames, keeps emoji joiners and scripts", () => {
    expect(nickOk("admin\u200f\u200b")).toBe(false);
    expect(nickOk("admin\u200b")).toBe(false);
    expect(nickOk("ad\u2060min")).toBe(false);
    expect(nickOk("admin\u200d")).toBe(false);
    expect(nickOk("\u200e\u0627\u0644\u0639")).toBe(false);
    // Tag characters only as part of a subdivision flag.
    expect(nickOk("admin\u{E0041}")).toBe(false);
    expect(nickOk("\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Ailsa")).toBe(true);
    expect(guestBody.safeParse({ nickname: "ann\u202egnp.exe" }).error?.issues[0]?.message).toBe("must not contain text direction controls");
    expect(guestBody.safeParse({ nickname: "\u200b" }).error?.issues[0]?.message).toMatch(/invisible|visible/);
    for (const name of ["👩\u200d💻 dev", "❤\ufe0f", "Zoë", "\u0645\u062d\u0645\u062f", "\u0928\u092e\u0938\u094d\u200d\u0924\u0947", "李小龙", "o'brien-2"]) {
      expect(nickOk(name), name).toBe(true);
    }
    // The same name typed composed or decomposed is one name.
    expect(guestBody.parse({ nickname: "Zoe\u0308" })).toEqual({ nickname: "Zoë" });
  });

  it("chat keeps new lines (CR LF and CR become LF) and refuses every other control and bidi override", () => {
    expect(chatSend.parse({ sessionId: "s1", text: "line 1\r\nline 2\rline 3\n" }).text).toBe("line 1\nline 2\nline 3");
    for (const text of ["a\u0000b", "\u001b[31mred", "ding\u0007", "tab\there", "x\u202ey", "\u2067x\u2069", "a\u0085b"]) {
      expect(chatOk(text), JSON.stringify(text)).toBe(false);
    }
    expect(chatSend.safeParse({ sessionId: "s1", text: "\u001b[2J" }).error?.issues[0]?.message).toBe(
      "must not contain control characters other than new lines",
    );
    for (const text of ["hi 👋", "שלום \u200fעולם", "two\nlines", "a\u200bb"]) expect(chatOk(text), text).toBe(true);
    expect(chatOk("\u200b\u200b")).toBe(false);
  });

  it("interests follow the nickname rules", () => {
    expect(lobbyJoin.safeParse({ interests: ["mu\u200bsic"] }).success).toBe(false);
    expect(lobbyJoin.safeParse({ interests: ["\u3164"] }).success).toBe(false);
    expect(lobbyJoin.safeParse({ interests: ["jazz"] }).success).toBe(true);
  });

  // Fuzz: whatever a user sends, what is accepted and shown to others has no forbidden character,
  // and a nickname always shows something.
  const anyText = fc
    .array(fc.oneof(fc.string({ unit: "grapheme" }), fc.constantFrom(...forbidden, ...invisible, "\n", "\r")), { maxLength: 12 })
    .map((parts) => parts.join(""));
  const forbiddenIn = (s: string, allowNewline: boolean) => [...s].some((c) => forbidden.includes(c) && !(allowNewline && c === "\n"));

  it("fuzz: an accepted nickname has no control, bidi or invisible-only content", () => {
    fc.assert(
      fc.property(anyText, (raw) => {
        const parsed = guestBody.safeParse({ nickname: raw });
        if (!parsed.success) return;
        const name = parsed.data.nickname!;
        expect(forbiddenIn(name, false)).toBe(false);
        expect(/[\u200b\u2060\ufeff\u200e\u200f]/u.test(name)).toBe(false);
        // eslint-disable-next-line no-misleading-character-class -- invisible code points listed one by one
        expect(name.replace(/[\s\u200b-\u200f\u2060\ufeff\u00ad\u3164\u115f\u1160\u2800\ufe00-\ufe0f\u180e]|\p{M}/gu, "")).not.toBe("");
        // Idempotent: what was accepted is accepted again as it is.
        expect(guestBody.parse({ nickname: name }).nickname).toBe(name);
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz: accepted chat text has only new lines among controls, no bidi overrides, no CR", () => {
    fc.assert(
      fc.property(anyText, (raw) => {
        const parsed = chatSend.safeParse({ sessionId: "s1", text: raw });
        if (!parsed.success) {
          // Refused only for a reason: a forbidden character, nothing visible, or too long.
          const normal = raw.replace(/\r\n?/g, "\n");
          expect(
            forbiddenIn(normal, true) ||
              normal.trim() === "" ||
              !/[^\s\p{Cf}\p{M}\p{Default_Ignorable_Code_Point}\u2800]/u.test(normal) ||
              /\p{Cs}/u.test(normal),
          ).toBe(true);
          return;
        }
        expect(forbiddenIn(parsed.data.text, true)).toBe(false);
        expect(parsed.data.text.includes("\r")).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});
