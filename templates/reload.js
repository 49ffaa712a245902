// siteserve live reload: the browser side. siteserve injects this module into every HTML page.
//
// One WebSocket per tab (never a long poll: that would hold one of the browser's six
// connections per host for each tab). On connect the tab says which page it shows and which
// same-origin scripts it runs; the server answers with what to do when files change:
//   {type: "reload"}                     the page's HTML changed: show it again, in place
//                                        when that is safe (morph.js), else reload
//   {type: "reload", full: true}         a script it runs changed: load the page again
//   {type: "update", css: [], images: []} swap those stylesheets and images in place
//   {type: "warnings", messages: []}     the page's render warned (an undefined name): log them
// When the server goes away the tab retries with backoff and reloads once it is back.
//
// The socket takes only pages of this server's own origin, with the server's token: the
// tab asks for it (same-origin only) each time it connects, since a restarted server has
// a new one.

const SOCKET_PATH = "/__siteserve/ws";
const TOKEN_PATH = "/__siteserve/ws-token";
const BUST_PARAM = "__siteserve";
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2000;

// This page answered a POST (a form): reloading it would post the form again.
const AFTER_POST = document.querySelector("script[data-siteserve-post]") !== null;

let retryMs = FIRST_RETRY_MS;
let lost = false;
let leaving = false;
let socket = null;
let connecting = false;

// The new <link> waiting to load -> the older links it replaces once it has.
const replacing = new WeakMap();

function pathOf(url, base = location.href) {
  try {
    const parsed = new URL(url, base);
    if (parsed.origin !== location.origin) return null;
    try {
      return decodeURIComponent(parsed.pathname);
    } catch {
      return parsed.pathname;
    }
  } catch {
    return null;
  }
}

function busted(url) {
  const parsed = new URL(url, location.href);
  parsed.searchParams.set(BUST_PARAM, Date.now().toString(36));
  return parsed.href;
}

function pathSet(urls) {
  return new Set((urls || []).map((url) => pathOf(url)).filter((path) => path !== null));
}

function sameOriginScripts() {
  const urls = [];
  const sources = [
    ...Array.from(document.scripts, (script) => script.src),
    ...Array.from(document.querySelectorAll("link[rel=modulepreload]"), (link) => link.href),
  ];
  for (const url of sources) {
    const path = url && pathOf(url);
    if (path && !path.startsWith("/__siteserve/")) urls.push(new URL(url).pathname);
  }
  return urls;
}

function rulesOf(sheet) {
  try {
    return sheet ? Array.from(sheet.cssRules) : [];
  } catch {
    return []; // a cross-origin sheet: not ours to look into
  }
}

// Does `sheet`, through its @import rules at any depth, pull in one of `paths`?
function importsAny(sheet, paths, depth = 0) {
  if (depth > 16) return false;
  for (const rule of rulesOf(sheet)) {
    if (!(rule instanceof CSSImportRule)) continue;
    if (paths.has(pathOf(rule.href, sheet.href || location.href))) return true;
    if (importsAny(rule.styleSheet, paths, depth + 1)) return true;
  }
  return false;
}

// Does any rule of `sheet` (or of what it imports) mention one of the image `names`?
function mentionsAny(sheet, names, depth = 0) {
  if (depth > 16) return false;
  for (const rule of rulesOf(sheet)) {
    if (rule instanceof CSSImportRule) {
      if (mentionsAny(rule.styleSheet, names, depth + 1)) return true;
    } else if (names.some((name) => rule.cssText.includes(name))) {
      return true;
    }
  }
  return false;
}

// Point every @import of a changed sheet at a fresh URL (for <style> elements, which
// cannot be swapped for a fresh copy of themselves).
function refreshImports(sheet, paths, depth = 0) {
  if (depth > 16) return;
  rulesOf(sheet).forEach((rule, index) => {
    if (!(rule instanceof CSSImportRule)) return;
    if (paths.has(pathOf(rule.href, sheet.href || location.href))) {
      const base = sheet.href || location.href;
      const media = rule.media && rule.media.mediaText ? ` ${rule.media.mediaText}` : "";
      try {
        sheet.deleteRule(index);
        sheet.insertRule(`@import url("${busted(new URL(rule.href, base).href)}")${media};`, index);
      } catch {
        // A sheet that refuses edits keeps its old import; the swap itself still happened.
      }
    } else {
      refreshImports(rule.styleSheet, paths, depth + 1);
    }
  });
}

// Load a fresh copy of `link` next to it and remove the old one once the new one applies,
// so the page never shows unstyled content in between.
function swapStylesheet(link) {
  return new Promise((resolve) => {
    const next = link.cloneNode();
    next.href = busted(link.href);
    const older = [...(replacing.get(link) || []), link];
    replacing.set(next, older);
    link.dataset.siteserveReplaced = "";
    const done = (loaded) => {
      if (loaded) {
        // Chromium revalidates the new sheet's @imports (we serve no-cache),
        // so imported sheets arrive fresh with it.
        for (const old of older) old.remove();
      } else {
        next.remove();
        delete link.dataset.siteserveReplaced;
      }
      replacing.delete(next);
      resolve(loaded);
    };
    next.addEventListener("load", () => done(true), { once: true });
    next.addEventListener("error", () => done(false), { once: true });
    link.after(next);
  });
}

function updateStylesheets(cssPaths, imageNames) {
  const swaps = [];
  const links = document.querySelectorAll(
    'link[rel~="stylesheet" i]:not([data-siteserve-replaced])',
  );
  for (const link of links) {
    const path = pathOf(link.href);
    if (path === null) continue;
    const changed =
      cssPaths.has(path) ||
      importsAny(link.sheet, cssPaths) ||
      (imageNames.length > 0 && mentionsAny(link.sheet, imageNames));
    if (changed) swaps.push(swapStylesheet(link));
  }
  for (const style of document.querySelectorAll("style")) {
    if (importsAny(style.sheet, cssPaths)) refreshImports(style.sheet, cssPaths);
  }
  return swaps;
}

function bustSrcset(srcset, paths) {
  return srcset
    .split(",")
    .map((candidate) => {
      const [url, ...rest] = candidate.trim().split(/\s+/);
      if (!url || !paths.has(pathOf(url))) return candidate.trim();
      return [busted(url), ...rest].join(" ");
    })
    .join(", ");
}

function updateImages(paths) {
  let count = 0;
  for (const element of document.querySelectorAll("img, source[srcset], input[type=image]")) {
    if (element.getAttribute("src") && paths.has(pathOf(element.src))) {
      element.src = busted(element.src);
      count += 1;
    }
    const srcset = element.getAttribute("srcset");
    if (srcset) {
      const next = bustSrcset(srcset, paths);
      if (next !== srcset) {
        element.setAttribute("srcset", next);
        count += 1;
      }
    }
  }
  return count;
}

async function update(message) {
  const cssPaths = pathSet(message.css);
  const imagePaths = pathSet(message.images);
  const imageNames = Array.from(imagePaths, (path) => path.split("/").pop()).filter(Boolean);
  const swaps = updateStylesheets(cssPaths, imageNames);
  const images = updateImages(imagePaths);
  const results = await Promise.all(swaps);
  const detail = { stylesheets: results.filter(Boolean).length, images };
  window.dispatchEvent(new CustomEvent("siteserve:update", { detail }));
}

function reloadPage() {
  if (AFTER_POST) {
    location.assign(location.pathname + location.search);
  } else {
    location.reload();
  }
}

// The morph module, asked for once: on the first HTML change, or early, once connected.
let morphModule = null;

function morpher() {
  if (morphModule === null) {
    morphModule = import("./morph.js").catch((error) => {
      morphModule = null; // the server was away: ask again next time
      throw error;
    });
  }
  return morphModule;
}

let showing = false;
let showAgain = false;

// A file this page uses changed: update the page in place, or reload it when that is not
// safe. A change that comes while one is being shown is shown once that one is done.
async function showChange() {
  if (showing) {
    showAgain = true;
    return;
  }
  showing = true;
  try {
    do {
      showAgain = false;
      const started = performance.now();
      let inPlace = false;
      try {
        inPlace = await (await morpher()).morphPage();
      } catch (error) {
        console.warn("siteserve: in-place update failed, reloading", error);
      }
      if (!inPlace) {
        reloadPage();
        return;
      }
      window.dispatchEvent(new CustomEvent("siteserve:morph", { detail: { started } }));
    } while (showAgain);
    // Still this page, with the scripts it had: the server may tell this tab again.
    sayHello();
  } finally {
    showing = false;
  }
}

function sayHello() {
  if (socket === null || socket.readyState !== WebSocket.OPEN) return;
  const hello = { type: "hello", page: location.pathname, scripts: sameOriginScripts() };
  socket.send(JSON.stringify(hello));
}

function retryLater() {
  if (leaving) return;
  lost = true;
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
}

async function socketToken() {
  const answer = await fetch(TOKEN_PATH, { cache: "no-store", credentials: "same-origin" });
  if (!answer.ok) throw new Error(`${TOKEN_PATH}: ${answer.status}`);
  const { token } = await answer.json();
  return token;
}

async function connect() {
  let token;
  connecting = true;
  try {
    token = await socketToken();
  } catch {
    retryLater(); // the server is away (or restarting): try again, as for a lost socket
    return;
  } finally {
    connecting = false;
  }
  if (leaving) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = `?socket_token=${encodeURIComponent(token)}`;
  socket = new WebSocket(`${scheme}//${location.host}${SOCKET_PATH}${query}`);
  socket.addEventListener("open", () => {
    if (lost) {
      // The server restarted: whatever changed meanwhile, show the page as it is now.
      reloadPage();
      return;
    }
    retryMs = FIRST_RETRY_MS;
    sayHello();
    morpher().catch(() => {}); // ready before the first edit
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "reload" && message.full) {
      reloadPage(); // a script changed: code that ran cannot be taken back
    } else if (message.type === "reload") {
      showChange();
    } else if (message.type === "update") {
      update(message);
    } else if (message.type === "warnings") {
      for (const text of message.messages || []) console.warn(`siteserve: ${text}`);
    }
  });
  socket.addEventListener("close", retryLater);
}

window.addEventListener("pagehide", () => {
  leaving = true;
});
window.addEventListener("pageshow", (event) => {
  const idle = !connecting && (socket === null || socket.readyState > WebSocket.OPEN);
  if (event.persisted && idle) {
    leaving = false;
    lost = true;
    connect();
  }
});

connect();
