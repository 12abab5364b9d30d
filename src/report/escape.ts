/**
 * Escaping of untrusted text (run ids, architectures, error messages) for the
 * report's formats: markdown, HTML, LaTeX and JSON inside an HTML script.
 *
 * @module
 */

/**
 * Escapes text for an HTML element's content or a quoted attribute value.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./escape.ts";
 * if (escapeHtml(`<a href="x">&'`) !== "&lt;a href=&quot;x&quot;&gt;&amp;&#39;") throw new Error();
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/**
 * Escapes text for inline markdown (a table cell, a list item): line breaks become
 * spaces, and every character that could start markup, an HTML tag, an entity or a
 * table cell is backslash-escaped. An underscore between two letters or digits
 * cannot start emphasis and stays as it is, so `lr1e-3_seed0` reads unchanged.
 *
 * @example
 * ```ts
 * import { escapeMarkdown } from "./escape.ts";
 * const s = escapeMarkdown("<b>*x*</b> | lr1e-3_seed0 _y_");
 * if (s !== "\\<b\\>\\*x\\*\\</b\\> \\| lr1e-3_seed0 \\_y\\_") throw new Error(s);
 * ```
 */
export function escapeMarkdown(s: string): string {
  const flat = s.replace(/\s*\r?\n\s*/g, " ");
  return flat.replace(/[\\`*_[\]<>|~&#$]/g, (c, i: number) => {
    if (
      c === "_" && /[\p{L}\p{N}]/u.test(flat[i - 1] ?? "") &&
      /[\p{L}\p{N}]/u.test(flat[i + 1] ?? "")
    ) {
      return c;
    }
    return `\\${c}`;
  });
}

const LATEX: Record<string, string> = {
  "\\": "\\textbackslash{}",
  "&": "\\&",
  "%": "\\%",
  "$": "\\$",
  "#": "\\#",
  "_": "\\_",
  "{": "\\{",
  "}": "\\}",
  "~": "\\textasciitilde{}",
  "^": "\\textasciicircum{}",
  "<": "\\textless{}",
  ">": "\\textgreater{}",
  "|": "\\textbar{}",
};

/**
 * Escapes text for LaTeX (text mode); line breaks become spaces.
 *
 * @example
 * ```ts
 * import { escapeLatex } from "./escape.ts";
 * if (escapeLatex("a_b & 5% {x}") !== "a\\_b \\& 5\\% \\{x\\}") throw new Error();
 * ```
 */
export function escapeLatex(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, " ").replace(/[\\&%$#_{}~^<>|]/g, (c) => LATEX[c]);
}

/**
 * JSON that is safe inside an HTML `<script>` element: `<`, `>`, `&` and the line
 * separators U+2028/U+2029 are written as `\u` escapes, so no `</script>` or
 * `<!--` can end or change the element.
 *
 * @example
 * ```ts
 * import { jsonForScript } from "./escape.ts";
 * const s = jsonForScript({ id: "</script><!--" });
 * if (s.includes("<") || JSON.parse(s).id !== "</script><!--") throw new Error(s);
 * ```
 */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
