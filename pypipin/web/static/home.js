// The home page's badge-snippet generator. It builds badge URLs from the registry the server
// embeds in the page (#registry) and never writes user text as HTML: only textContent and
// properties.
"use strict";

(() => {
  const registry = JSON.parse(document.getElementById("registry").textContent);
  const form = document.getElementById("generator");
  const field = document.getElementById("package");
  const packageError = document.getElementById("package-error");
  const status = document.getElementById("status");
  const announce = document.getElementById("announce");
  const block = document.getElementById("block");
  const NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;
  const HEX = new RegExp(registry.hex);
  const SYNTAXES = { markdown: "Markdown", rst: "reStructuredText", html: "HTML" };
  const COLORS = new Set(registry.colors);
  const kinds = new Map(registry.kinds.map((kind) => [kind.name, kind]));
  const cards = [...document.querySelectorAll("#badges .badge")].map((element) => ({
    kind: kinds.get(element.dataset.kind),
    element,
    include: element.querySelector(".include input"),
    preview: element.querySelector(".preview"),
    img: element.querySelector(".preview img"),
    code: element.querySelector(".snippet code"),
  }));

  let shown = null; // the package whose badges are on the page

  // Form state -----------------------------------------------------------------------------

  function colour(name) {
    const input = control(name);
    const error = document.getElementById(name + "-error");
    const value = input.value.trim();
    const valid = value === "" || COLORS.has(value.toLowerCase()) || HEX.test(value);
    input.setAttribute("aria-invalid", String(!valid));
    error.hidden = valid;
    error.textContent = valid ? "" : "Not a colour name or hex: this setting is left out.";
    return valid && value ? value.replace(/^#/, "").toLowerCase() : "";
  }

  function control(name) {
    return form.elements.namedItem(name);
  }

  function settings() {
    const label = control("label").value;
    return {
      package: shown,
      urls: control("urls").value,
      index: control("index").value,
      style: control("style").value,
      format: control("format").value,
      scale: Number(control("scale").value),
      label: label.trim() ? label : "",
      color: colour("color"),
      labelColor: colour("labelColor"),
      period: control("period").value,
      framework: control("framework").value,
      prereleases: control("include_prereleases").checked,
      syntax: control("syntax").value,
    };
  }

  // The URL of each setting that differs from the page's defaults, for a link to share.
  function shareableSearch() {
    const params = new URLSearchParams();
    if (shown) params.set("package", shown);
    for (const element of form.elements) {
      if (!element.name || element.name === "package" || element.disabled) continue;
      if (element.type === "radio" || element.type === "checkbox") {
        if (element.checked !== element.defaultChecked && element.checked) params.set(element.name, element.value);
      } else if (element.tagName === "SELECT") {
        const fallback = [...element.options].find((option) => option.defaultSelected) || element.options[0];
        if (element.value !== fallback.value) params.set(element.name, element.value);
      } else if (element.value !== element.defaultValue) {
        params.set(element.name, element.value);
      }
    }
    const search = params.toString();
    return search ? "?" + search : location.pathname;
  }

  // Sets the controls from a query string; values a control cannot hold are ignored.
  function restore(search) {
    const params = new URLSearchParams(search);
    for (const [name, value] of params) {
      const element = name === "package" ? null : control(name);
      if (!element) continue;
      if (element instanceof RadioNodeList) {
        if ([...element].some((radio) => radio.value === value)) element.value = value;
      } else if (element.type === "checkbox") {
        element.checked = true;
      } else if (element.tagName === "SELECT") {
        if ([...element.options].some((option) => option.value === value)) element.value = value;
      } else {
        element.value = element.maxLength > 0 ? value.slice(0, element.maxLength) : value;
      }
    }
    syncScale();
    return (params.get("package") || "").trim();
  }

  function syncScale() {
    control("scale").disabled = !registry.rasters.includes(control("format").value);
  }

  // Badge URLs -------------------------------------------------------------------------------

  // The URL name of a kind in one form that fits the wanted options best, or null.
  function pick(kind, urlForm, wanted) {
    let best = null;
    let score = -1;
    for (const [name, route] of Object.entries(registry[urlForm])) {
      if (route.kind !== kind.name) continue;
      const fixed = Object.keys(route.fixed);
      if (!fixed.every((key) => wanted[key] === route.fixed[key])) continue;
      if (fixed.length > score) {
        best = name;
        score = fixed.length;
      }
    }
    return best;
  }

  // encodeURIComponent, and also the characters that end a link in Markdown or reStructuredText.
  function encode(text) {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  }

  function badgeUrl(kind, s) {
    const wanted = { period: s.period, framework: s.framework };
    let urlForm = s.urls;
    let name = pick(kind, urlForm, wanted);
    if (name === null) {
      urlForm = urlForm === "original" ? "shields" : "original";
      name = pick(kind, urlForm, wanted);
    }
    const fixed = registry[urlForm][name].fixed;
    const loose = (option) => kind.options.includes(option) && !(option in fixed);
    const pkg = encode(s.package);
    let path;
    if (urlForm === "original") {
      path = `/${name}/${pkg}/badge.${s.format}`;
    } else {
      const framework = loose("framework") ? "/" + encode(s.framework) : "";
      path = `/pypi/${name}${framework}/${pkg}${s.format === "svg" ? "" : "." + s.format}`;
    }
    const query = [];
    if (loose("period") && s.period !== registry.default_period) query.push(["period", s.period]);
    if (kind.options.includes("include_prereleases") && s.prereleases) query.push(["include_prereleases"]);
    if (s.index !== registry.indexes[0]) query.push(["index", s.index]);
    if (s.style !== registry.styles[0]) query.push(["style", s.style]);
    if (s.label) query.push(["label", s.label]);
    if (s.color) query.push(["color", s.color]);
    if (s.labelColor) query.push(["labelColor", s.labelColor]);
    if (s.scale > 1 && registry.rasters.includes(s.format)) query.push(["scale", String(s.scale)]);
    const search = query.map(([key, value]) => (value === undefined ? key : `${key}=${encode(value)}`));
    return location.origin + path + (search.length ? "?" + search.join("&") : "");
  }

  // Snippets ---------------------------------------------------------------------------------

  function title(kind, s) {
    return kind.title.replace("{framework}", registry.frameworks[s.framework].toLowerCase());
  }

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function snippet(syntax, url, alt, target) {
    if (syntax === "rst") return `.. image:: ${url}\n   :target: ${target}\n   :alt: ${alt}`;
    if (syntax === "html") return `<a href="${escapeHtml(target)}"><img src="${escapeHtml(url)}" alt="${escapeHtml(alt)}"></a>`;
    return `[![${alt.replace(/[[\]\\]/g, "\\$&")}](${url})](${target})`;
  }

  // Several badges in one block: a row in Markdown and HTML, substitutions in reStructuredText.
  function blockSnippet(syntax, badges, target) {
    if (syntax === "rst") {
      const names = badges.map((badge) => badge.kind.name.replace(/_/g, "-"));
      const definitions = badges.map(
        (badge, i) => `.. |${names[i]}| image:: ${badge.url}\n   :target: ${target}\n   :alt: ${badge.alt}`,
      );
      return [names.map((name) => `|${name}|`).join(" "), ...definitions].join("\n\n");
    }
    return badges.map((badge) => snippet(syntax, badge.url, badge.alt, target)).join("\n");
  }

  // Rendering --------------------------------------------------------------------------------

  function render() {
    if (!shown) return;
    const s = settings();
    // a private package links to this page, never to a public one of the same name on pypi.org
    const target = s.index === registry.indexes[0]
      ? `https://pypi.org/project/${encode(shown)}/`
      : `${location.origin}/?package=${encode(shown)}&index=${encode(s.index)}`;
    const badges = [];
    let loading = 0;
    for (const card of cards) {
      const url = badgeUrl(card.kind, s);
      const alt = title(card.kind, s);
      card.element.querySelector("h3").textContent = alt;
      card.element.querySelector(".live").hidden = false;
      card.include.parentElement.hidden = false;
      card.preview.href = url;
      card.code.textContent = snippet(s.syntax, url, alt, target);
      card.img.alt = alt;
      if (card.img.getAttribute("src") !== url) {
        card.element.classList.add("loading");
        card.element.classList.remove("failed");
        card.img.src = url;
      }
      if (card.element.classList.contains("loading")) loading += 1;
      if (card.include.checked) badges.push({ kind: card.kind, url, alt });
    }
    for (const name of document.querySelectorAll(".syntax-name")) name.textContent = SYNTAXES[s.syntax];
    block.hidden = badges.length === 0;
    block.querySelector("code").textContent = blockSnippet(s.syntax, badges, target);
    if (loading) say(status, `Loading ${loading} badge${loading === 1 ? "" : "s"} for ${shown}…`);
    else settle();
  }

  // Announces the result once no badge is loading any more.
  function settle() {
    if (cards.some((card) => card.element.classList.contains("loading"))) return;
    const total = cards.length;
    const failed = cards.filter((card) => card.element.classList.contains("failed")).length;
    say(status, failed
      ? `${total - failed} of ${total} badges for ${shown} loaded; ${failed} could not be drawn, try again in a moment.`
      : `${total} badges for ${shown}. Copy one snippet, or every ticked badge at once from the first box.`);
  }

  function say(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }

  // Shows every badge of a package, or says why the name cannot be one.
  function show(name) {
    let problem = "";
    if (!name) problem = "Type the name of a package on PyPI.";
    else if (name.length > registry.max_name || !NAME.test(name)) {
      problem = "Not a package name: use letters, digits and . _ - (not at either end).";
    }
    field.setAttribute("aria-invalid", String(Boolean(problem)));
    packageError.hidden = !problem;
    packageError.textContent = problem;
    if (problem) return false;
    for (const card of cards) if (card.element.classList.contains("failed")) card.img.removeAttribute("src");
    shown = name;
    render();
    return true;
  }

  // Copying ----------------------------------------------------------------------------------

  async function copy(button, code) {
    const text = code.textContent;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    button.textContent = copied ? "Copied" : "Selected";
    button.classList.add("done");
    say(announce, copied ? "Copied to the clipboard." : "Snippet selected: press Ctrl+C or ⌘C to copy it.");
    setTimeout(() => {
      button.textContent = "Copy";
      button.classList.remove("done");
      announce.textContent = "";
    }, 2000);
  }

  // Events -----------------------------------------------------------------------------------

  let typing = 0;
  function changed(event) {
    if (event.target.form !== form || event.target === field) return;
    syncScale();
    if (!shown) return;
    history.replaceState(null, "", shareableSearch());
    clearTimeout(typing);
    if (event.type === "input" && event.target.type === "text") typing = setTimeout(render, 300);
    else render();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (show(field.value.trim())) history.replaceState(null, "", shareableSearch());
    else field.focus();
  });
  document.addEventListener("input", changed);
  document.addEventListener("change", changed);
  for (const card of cards) {
    card.include.addEventListener("change", render);
    card.img.addEventListener("load", () => {
      card.element.classList.remove("loading");
      settle();
    });
    card.img.addEventListener("error", () => {
      card.element.classList.remove("loading");
      card.element.classList.add("failed");
      settle();
    });
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy");
    if (button) copy(button, button.closest(".snippet").querySelector("code"));
  });

  const initial = restore(location.search);
  if (initial) {
    field.value = initial.slice(0, registry.max_name);
    show(field.value);
  }
})();
