// Strict parsers for the report tests: XML (Deno has no DOMParser) and RFC 4180 CSV.
// ---------------------------------------------------------------------------
// A small strict XML well-formedness checker (Deno has no DOMParser).

export interface XmlElement {
  name: string;
  attrs: Map<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_.:-]*/;

function decodeEntities(s: string, where: string): string {
  return s.replace(/&([^;&]*);?/g, (m, body: string) => {
    if (!m.endsWith(";")) throw new Error(`${where}: '&' not starting an entity reference`);
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (body in named) return named[body];
    const num = /^#([0-9]+)$/.exec(body) ?? /^#x([0-9A-Fa-f]+)$/.exec(body);
    if (num) return String.fromCodePoint(parseInt(num[1], body[1] === "x" ? 16 : 10));
    throw new Error(`${where}: unknown entity '&${body};'`);
  });
}

/** Parses XML strictly; throws on anything not well-formed. Returns the root element. */
export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const fail = (msg: string): never => {
    throw new Error(`XML at offset ${i}: ${msg}`);
  };
  if (src.startsWith("<?xml")) {
    const end = src.indexOf("?>");
    if (end < 0) fail("unterminated XML declaration");
    i = end + 2;
  }
  while (i < src.length) {
    if (src[i] !== "<") {
      const next = src.indexOf("<", i);
      const chunk = src.slice(i, next < 0 ? src.length : next);
      if (stack.length === 0) {
        if (chunk.trim() !== "") {
          fail(`text outside the root: ${JSON.stringify(chunk.slice(0, 20))}`);
        }
      } else {
        if (chunk.includes("]]>")) fail("']]>' in text");
        stack[stack.length - 1].text += decodeEntities(chunk, `text at ${i}`);
      }
      i = next < 0 ? src.length : next;
      continue;
    }
    if (src.startsWith("<!--", i)) {
      const end = src.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      if (src.slice(i + 4, end).includes("--")) fail("'--' inside a comment");
      i = end + 3;
      continue;
    }
    if (src.startsWith("<![CDATA[", i)) {
      if (stack.length === 0) fail("CDATA outside the root");
      const end = src.indexOf("]]>", i);
      if (end < 0) fail("unterminated CDATA");
      stack[stack.length - 1].text += src.slice(i + 9, end);
      i = end + 3;
      continue;
    }
    if (src.startsWith("<?", i)) {
      const end = src.indexOf("?>", i);
      if (end < 0) fail("unterminated processing instruction");
      i = end + 2;
      continue;
    }
    if (src.startsWith("<!", i)) fail("DOCTYPE or other declarations are not expected");
    if (src.startsWith("</", i)) {
      const m = NAME.exec(src.slice(i + 2));
      if (!m) fail("bad end tag name");
      const name = m![0];
      let j = i + 2 + name.length;
      while (/\s/.test(src[j] ?? "")) j++;
      if (src[j] !== ">") fail(`expected '>' closing </${name}`);
      const open = stack.pop();
      if (!open || open.name !== name) {
        fail(`</${name}> does not match <${open?.name ?? "(none)"}>`);
      }
      i = j + 1;
      continue;
    }
    const m = NAME.exec(src.slice(i + 1));
    if (!m) fail("bad start tag name");
    const el: XmlElement = { name: m![0], attrs: new Map(), children: [], text: "" };
    let j = i + 1 + el.name.length;
    let selfClosing = false;
    for (;;) {
      const ws = /^\s*/.exec(src.slice(j))![0].length;
      j += ws;
      if (src.startsWith("/>", j)) {
        selfClosing = true;
        j += 2;
        break;
      }
      if (src[j] === ">") {
        j += 1;
        break;
      }
      if (ws === 0) fail(`expected whitespace before an attribute in <${el.name}>`);
      const an = NAME.exec(src.slice(j));
      if (!an) fail(`bad attribute name in <${el.name}>`);
      j += an![0].length;
      const eq = /^\s*=\s*/.exec(src.slice(j));
      if (!eq) fail(`expected '=' after attribute ${an![0]}`);
      j += eq![0].length;
      const q = src[j];
      if (q !== '"' && q !== "'") fail(`attribute ${an![0]} value not quoted`);
      const end = src.indexOf(q, j + 1);
      if (end < 0) fail("unterminated attribute value");
      const raw = src.slice(j + 1, end);
      if (raw.includes("<")) fail(`'<' in attribute ${an![0]}`);
      if (el.attrs.has(an![0])) fail(`duplicate attribute ${an![0]} in <${el.name}>`);
      el.attrs.set(an![0], decodeEntities(raw, `attribute ${an![0]}`));
      j = end + 1;
    }
    if (stack.length === 0) {
      if (root) fail("a second root element");
      root = el;
    } else {
      stack[stack.length - 1].children.push(el);
    }
    if (!selfClosing) stack.push(el);
    i = j;
  }
  if (stack.length > 0) throw new Error(`XML: <${stack[stack.length - 1].name}> is not closed`);
  if (!root) throw new Error("XML: no root element");
  return root;
}

export function all(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []) {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

// ---------------------------------------------------------------------------
// A strict RFC 4180 CSV parser.

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = "", i = 0, quoted = false, started = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        if (!(i >= text.length || text[i] === "," || text[i] === "\r")) {
          throw new Error(`CSV: character after closing quote at ${i}`);
        }
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== "") throw new Error(`CSV: quote inside an unquoted field at ${i}`);
      quoted = true;
      started = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\r") {
      if (text[i + 1] !== "\n") throw new Error(`CSV: bare CR at ${i}`);
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      started = false;
      i += 2;
    } else if (c === "\n") {
      throw new Error(`CSV: bare LF at ${i}`);
    } else {
      field += c;
      started = true;
      i++;
    }
  }
  if (quoted) throw new Error("CSV: unterminated quote");
  if (field !== "" || started || row.length > 0) throw new Error("CSV: last row without CRLF");
  return rows;
}

/** The `<g>` groups whose class list holds `cls`, in document order. */
export function groups(root: XmlElement, cls: string): XmlElement[] {
  return all(
    root,
    (e) => e.name === "g" && (e.attrs.get("class") ?? "").split(/\s+/).includes(cls),
  );
}

/** Text of every `<text>` element under `el`, in document order. */
export function textsOf(el: XmlElement): string[] {
  return all(el, (e) => e.name === "text").map((e) => e.text);
}
