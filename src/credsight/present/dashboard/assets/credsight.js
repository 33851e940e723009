// The dashboard's browser-side callbacks: the filters and the URL kept in step, the navigation keeping
// the filters, the page's #drawn mark, and the paged tables refreshed when the view changes.
(function () {
  // dcc.Graph loads plotly.js from window._dashPlotlyJSURL when the first figure draws: here, plotly.js's
  // cartesian bundle (bar, heatmap, scatter: every figure credsight draws; 1.5 MB to parse, not 4.8), the
  // same version as the full one (see assets/vendor/README.md). Pages without a figure load neither.
  const config = document.getElementById("_dash-config");
  const prefix = (config && JSON.parse(config.textContent).requests_pathname_prefix) || "/";
  const plotly = prefix + "assets/vendor/plotly-cartesian.min.js";
  Object.defineProperty(window, "_dashPlotlyJSURL", { get: () => plotly, set: () => {} });

  const KEYS = ["accounts", "ou", "date", "from", "to", "user", "severity", "kind", "person"];
  const ACCOUNT = /^\d{12}$/;

  // As Python's urlencode(..., safe=",/") writes a value: the server compares URLs in that form.
  function encode(value) {
    return encodeURIComponent(value)
      .replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
      .replace(/%20/g, "+").replace(/%2C/g, ",").replace(/%2F/g, "/");
  }

  function parse(search) {
    const params = new URLSearchParams((search || "").replace(/^\?/, ""));
    const found = {};
    for (const key of KEYS) {
      const value = params.get(key);
      if (value) found[key] = value;
    }
    const accounts = (params.getAll("accounts").join(",") || "").split(",").filter((a) => ACCOUNT.test(a));
    found.accounts = accounts;
    return found;
  }

  function build(filters) {
    const pairs = [];
    for (const key of KEYS) {
      const value = key === "accounts" ? (filters.accounts || []).join(",") : filters[key];
      if (value) pairs.push(key + "=" + encode(value));
    }
    return pairs.length ? "?" + pairs.join("&") : "";
  }

  function same(a, b) {
    return build(parse(a)) === build(parse(b));
  }

  window.dash_clientside = window.dash_clientside || {};
  const no = () => window.dash_clientside.no_update;
  window.dash_clientside.credsight = {
      filtersAndUrl: function (search, accounts, ou, date, accountChoices, ouChoices) {
        const context = window.dash_clientside.callback_context;
        const fired = (context.triggered || []).map((t) => t.prop_id);
        const fromUrl = fired.length === 0 || fired.some((p) => p === "url.search" || p === ".");
        if (fromUrl) {
          const filters = parse(search);
          return [no(), filters.accounts, filters.ou || null, filters.date || null];
        }
        // A dropdown without its choices yet drops the values it has no option for: that is not the user.
        const unready =
          (fired.includes("filter-accounts.value") && !(accountChoices || []).length) ||
          (fired.includes("filter-ou.value") && !(ouChoices || []).length);
        if (unready) return [no(), no(), no(), no()];
        const filters = parse(search);
        filters.accounts = accounts || [];
        filters.ou = ou || null;
        filters.date = date ? String(date).slice(0, 10) : null;
        const next = build(filters);
        if (same(next, search)) return [no(), no(), no(), no()];
        return [next, no(), no(), no()];
      },
      choicesArrived: function (accountChoices, ouChoices, search) {
        // The choices came after the values: put the URL's values back in the dropdowns.
        const filters = parse(search);
        return [filters.accounts, filters.ou || null];
      },
      navigation: function (search) {
        const filters = parse(search);
        delete filters.user; // a user, severities and kinds belong to the page they were picked on
        delete filters.severity;
        delete filters.kind;
        delete filters.person;
        const kept = build(filters);
        const links = Array.from(document.querySelectorAll("nav a[id^='nav-']"));
        return links.map((link) => link.getAttribute("href").split("?")[0] + kept);
      },
      drawn: function (marks, pathname, search) {
        if (!marks || !marks.length) return "";
        return marks.every((m) => m && m === marks[0]) ? marks[0] : "";
      },
      refreshGrid: function (search, id) {
        // The rows of the view the URL names now: the grid asks again (getRowsRequest), from its first row.
        try {
          const api = window.dash_ag_grid.getApi(id);
          if (api) api.purgeInfiniteCache();
        } catch (e) {
          // not drawn yet: it asks for its rows when it is
        }
        return Date.now();
      },
  };
})();
