// siteserve live reload: an HTML change applied to the open page in place.
//
// reload.js imports this module the first time it needs it. `morphPage` fetches the page
// again and morphs the live document into the fresh one: elements that stay (same tag, same
// id) are kept and only their attributes and children change, so their event listeners, the
// values typed into them and the scroll position survive. It answers false, having changed
// nothing, when in place is not safe and the caller must reload the whole page:
//   - the page opted out: <meta name="siteserve-reload" content="full"> (old or new page);
//   - the page shown or the fresh answer is not a 200 text/html (an error page, a 404, a
//     redirect, a file that is not HTML any more), or the fetch failed;
//   - the scripts differ (src and inline text, head and body, in order): a script that
//     already ran cannot be taken back, and one parsed here never runs;
//   - the morph would have to insert a script (the same scripts in a new place).
// The reload script's own tags (/__siteserve/) are never compared nor touched.

const OWN_PREFIX = "/__siteserve/";
const BUST_PARAM = "__siteserve";
const OPT_OUT = 'meta[name="siteserve-reload" i]';
// A stylesheet link being swapped for a fresh copy (reload.js): the swap removes it.
const SWAPPING = "data-siteserve-replaced";
// How far ahead among the old siblings a new child is looked for (an element removed).
const LOOKAHEAD = 8;

class NotInPlace extends Error {}

function optedOut(doc) {
  const meta = doc.querySelector(OPT_OUT);
  return meta !== null && (meta.getAttribute("content") || "").trim().toLowerCase() === "full";
}

function isOwn(element) {
  const url = element.getAttribute("src") || element.getAttribute("href") || "";
  try {
    return new URL(url, location.href).pathname.startsWith(OWN_PREFIX);
  } catch {
    return false;
  }
}

// Each script of `doc` as one string, in document order (the reload script left out).
function scriptsOf(doc) {
  const keys = [];
  for (const element of doc.querySelectorAll("script, link[rel~=modulepreload i]")) {
    if (isOwn(element)) continue;
    if (element.localName === "link") {
      keys.push(`preload ${element.getAttribute("href")}`);
      continue;
    }
    const type = element.getAttribute("type") || "";
    const src = element.getAttribute("src");
    keys.push(src !== null ? `${type} src ${src}` : `${type} inline ${element.text}`);
  }
  return keys.join("\n\u0000");
}

// The status of the document shown: a page we morphed is a 200 text/html.
let shownStatus = null;

function statusShown() {
  if (shownStatus !== null) return shownStatus;
  const navigation = performance.getEntriesByType("navigation")[0];
  const status = navigation && navigation.responseStatus;
  // Older browsers do not say: only a page that answered 200 got here with a tab to morph.
  return typeof status === "number" && status > 0 ? status : 200;
}

function withoutBust(url) {
  try {
    const parsed = new URL(url, location.href);
    parsed.searchParams.delete(BUST_PARAM);
    return parsed.href;
  } catch {
    return url;
  }
}

function isStylesheet(element) {
  return element.localName === "link" && /(^|\s)stylesheet(\s|$)/i.test(element.rel || "");
}

function sameElement(old, fresh) {
  if (old.localName !== fresh.localName || old.namespaceURI !== fresh.namespaceURI) return false;
  if ((old.getAttribute("id") || "") !== (fresh.getAttribute("id") || "")) return false;
  if (old.localName === "script") {
    return old.getAttribute("src") === fresh.getAttribute("src") && old.text === fresh.text;
  }
  return true;
}

function sameNode(old, fresh) {
  if (old.nodeType !== fresh.nodeType) return false;
  return old.nodeType !== Node.ELEMENT_NODE || sameElement(old, fresh);
}

function syncAttributes(old, fresh) {
  for (const { name } of Array.from(old.attributes)) {
    if (!fresh.hasAttribute(name) && name !== SWAPPING) old.removeAttribute(name);
  }
  for (const { name, value } of Array.from(fresh.attributes)) {
    if (old.getAttribute(name) === value) continue;
    // A stylesheet swapped in place has a fresh ?__siteserve= URL: it is still the same
    // sheet, and setting its href again would load it again (and flash).
    if (name === "href" && isStylesheet(old) && withoutBust(old.href) === withoutBust(value)) {
      continue;
    }
    old.setAttribute(name, value);
  }
}

function morphNode(old, fresh) {
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
    return;
  }
  // A script kept is left exactly as it is: it ran once and must not run again.
  if (old.localName === "script" || isOwn(old)) return;
  syncAttributes(old, fresh);
  if (old.localName === "template") {
    morphChildren(old.content, fresh.content);
  } else {
    morphChildren(old, fresh);
  }
}

// Nodes of the live page the morph leaves where they are.
function untouched(node) {
  return (
    node.nodeType === Node.ELEMENT_NODE &&
    (node.hasAttribute(SWAPPING) || (node.localName === "script" && isOwn(node)))
  );
}

function nextOld(node) {
  while (node !== null && untouched(node)) node = node.nextSibling;
  return node;
}

function adopted(fresh) {
  const hasScript =
    fresh.nodeType === Node.ELEMENT_NODE &&
    (fresh.localName === "script" || fresh.querySelector("script") !== null);
  if (hasScript) throw new NotInPlace("a script would be inserted");
  return document.adoptNode(fresh);
}

function laterMatch(old, fresh) {
  if (old === null || fresh.nodeType !== Node.ELEMENT_NODE) return null;
  let later = nextOld(old.nextSibling);
  for (let step = 0; later !== null && step < LOOKAHEAD; step += 1) {
    if (sameNode(later, fresh)) return later;
    later = nextOld(later.nextSibling);
  }
  return null;
}

// Walk both lists of children pairwise: keep and morph what matches, insert what is new,
// remove what is left over.
function morphChildren(oldParent, freshParent) {
  let old = nextOld(oldParent.firstChild);
  for (const fresh of Array.from(freshParent.childNodes)) {
    if (fresh.nodeType === Node.ELEMENT_NODE && fresh.localName === "script" && isOwn(fresh)) {
      continue; // the fresh page's copy of the reload script: ours is already running
    }
    if (old !== null && sameNode(old, fresh)) {
      morphNode(old, fresh);
      old = nextOld(old.nextSibling);
      continue;
    }
    // Old elements removed before this one: the one it matches is a little further on.
    const later = laterMatch(old, fresh);
    if (later !== null) {
      while (old !== later) {
        const gone = old;
        old = nextOld(old.nextSibling);
        gone.remove();
      }
      morphNode(later, fresh);
      old = nextOld(later.nextSibling);
      continue;
    }
    oldParent.insertBefore(adopted(fresh), old);
  }
  while (old !== null) {
    const gone = old;
    old = nextOld(old.nextSibling);
    gone.remove();
  }
}

// The fresh copy of the page shown, parsed; null when it cannot be shown in place.
async function freshDocument() {
  let answer;
  try {
    answer = await fetch(location.href, {
      cache: "no-store",
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
  } catch {
    return null;
  }
  const type = (answer.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
  if (answer.status !== 200 || answer.redirected || type !== "text/html") return null;
  return new DOMParser().parseFromString(await answer.text(), "text/html");
}

// Bring the open page up to date in place; false when the caller must reload it instead
// (nothing was changed, except when a script turned out to move: the reload replaces all).
export async function morphPage() {
  if (optedOut(document) || statusShown() !== 200) return false;
  const fresh = await freshDocument();
  if (fresh === null || optedOut(fresh) || scriptsOf(fresh) !== scriptsOf(document)) {
    return false;
  }
  try {
    syncAttributes(document.documentElement, fresh.documentElement);
    morphNode(document.head, fresh.head);
    morphNode(document.body, fresh.body);
  } catch (error) {
    if (error instanceof NotInPlace) return false; // the caller reloads the whole page
    throw error;
  }
  shownStatus = 200;
  return true;
}
