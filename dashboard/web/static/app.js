// The dashboard's pages: each reads its view from /dashboard/api/<view>
// once, then follows /dashboard/stream/<view> (server-sent events, one
// message a second) and renders every message. All figures come from the
// server; the only thing computed here is the earnings-per-second series,
// the difference of two earned totals the server sent.
"use strict";

(function () {
  const view = document.body.dataset.view;
  const params = new URLSearchParams(location.search);
  const id = params.get("id") || "";
  const query = id ? "?id=" + encodeURIComponent(id) : "";

  // msat formats millisatoshi as satoshi with three decimals, exactly.
  function msat(v) {
    const n = BigInt(v || 0);
    const neg = n < 0n;
    const a = neg ? -n : n;
    const s = (a / 1000n).toString() + "." + (a % 1000n).toString().padStart(3, "0");
    return (neg ? "-" : "") + s + " sat";
  }
  function when(t) {
    if (!t || t.startsWith("0001-")) return "";
    return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function link(href, text) {
    const a = el("a", { href: href }, text);
    return a;
  }
  // row appends a row to tbody; cells are strings, Nodes or
  // {text, cls, attrs}.
  function row(tbody, cells, attrs) {
    const tr = el("tr", attrs);
    for (const c of cells) {
      const td = el("td");
      if (c instanceof Node) td.appendChild(c);
      else if (c && typeof c === "object") {
        td.textContent = c.text;
        if (c.cls) td.className = c.cls;
        for (const [k, v] of Object.entries(c.attrs || {})) td.setAttribute(k, v);
      } else td.textContent = c === undefined ? "" : String(c);
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  function body(tableID) {
    const tb = document.querySelector("#" + tableID + " tbody");
    tb.replaceChildren();
    return tb;
  }
  function money(v, cls) {
    return { text: msat(v), cls: "num " + (cls || ""), attrs: { "data-msat": String(v || 0) } };
  }
  function kv(rows) {
    const tb = body("summary");
    for (const [k, v, key] of rows) {
      const tr = el("tr", key ? { "data-key": key } : {});
      tr.appendChild(el("th", {}, k));
      const td = el("td");
      if (v && typeof v === "object" && !(v instanceof Node)) {
        td.textContent = v.text;
        for (const [a, b] of Object.entries(v.attrs || {})) td.setAttribute(a, b);
      } else if (v instanceof Node) td.appendChild(v);
      else td.textContent = v === undefined ? "" : String(v);
      tr.appendChild(td);
      tb.appendChild(tr);
    }
  }

  // Charts: uPlot when scripts/web.sh put it in static/vendor.
  const charts = {};
  function chart(divID, label, xs, ys) {
    const div = document.getElementById(divID);
    if (typeof window.uPlot === "undefined") {
      if (!div.dataset.missing) {
        div.dataset.missing = "1";
        div.appendChild(el("p", { class: "missing" },
          "Chart library missing: this sluiced was built without scripts/web.sh (npm). The tables below hold the same figures."));
      }
      return;
    }
    const data = [xs, ys];
    if (charts[divID]) { charts[divID].setData(data); return; }
    charts[divID] = new window.uPlot({
      width: Math.min(900, window.innerWidth - 40), height: 220,
      series: [{}, { label: label, stroke: "#16324f", width: 2 }],
      scales: { x: { time: true } },
    }, data, div);
  }
  function payoutSeries(payouts) {
    const ok = (payouts || []).filter(p => p.state === "succeeded" && p.resolved_at)
      .sort((a, b) => new Date(a.resolved_at) - new Date(b.resolved_at));
    const xs = [], ys = [];
    let total = 0;
    for (const p of ok) {
      total += p.amount_msat / 1000;
      xs.push(new Date(p.resolved_at).getTime() / 1000);
      ys.push(total);
    }
    return [xs, ys];
  }
  // Earnings per second from consecutive earned totals.
  const earned = { xs: [], ys: [], last: null };
  function sampleEarned(asOf, totalMsat) {
    const t = new Date(asOf).getTime() / 1000;
    if (earned.last && t > earned.last.t) {
      earned.xs.push(t);
      earned.ys.push((totalMsat - earned.last.v) / 1000 / (t - earned.last.t));
      if (earned.xs.length > 600) { earned.xs.shift(); earned.ys.shift(); }
    }
    earned.last = { t: t, v: totalMsat };
    chart("chart-earnings", "sat/s earned", earned.xs, earned.ys);
  }

  const render = {
    now(d) {
      const jobs = body("jobs");
      for (const j of d.jobs) {
        row(jobs, [link("/dashboard/job?id=" + encodeURIComponent(j.id), j.id),
          link("/dashboard/provider?id=" + encodeURIComponent(j.provider_id), j.provider_id),
          j.state, { text: String(j.seconds_metered), cls: "num seconds" },
          money(j.spent_msat, "spent"), money(j.earned_msat, "earned"), money(j.escrow_msat, "escrow"),
          { text: j.runway_seconds + " s", cls: "num runway" }, j.health], { "data-job": j.id });
      }
      const provs = body("providers");
      for (const p of d.providers) {
        row(provs, [link("/dashboard/provider?id=" + encodeURIComponent(p.id), p.alias ? p.alias + " (" + p.id + ")" : p.id),
          money(p.payable_msat, "payable"), money(p.in_flight_msat, "inflight"), money(p.paid_out_msat, "paid"),
          { text: p.payouts_succeeded + "/" + p.payouts, cls: "num" },
          p.payout_status + (p.payout_status_reason ? ": " + p.payout_status_reason : ""),
          when(p.last_payout_at)], { "data-provider": p.id });
      }
      const pays = body("payouts");
      for (const p of d.payouts) {
        row(pays, [when(p.created_at), p.provider_id, money(p.amount_msat), money(p.fee_msat), p.state + (p.failure ? ": " + p.failure : "")]);
      }
      const refs = body("refunds");
      for (const r of d.refunds) {
        row(refs, [when(r.created_at), link("/dashboard/job?id=" + encodeURIComponent(r.job_id), r.job_id), r.method, money(r.amount_msat), money(r.fee_msat), r.state + (r.failure ? ": " + r.failure : "")]);
      }
      const rc = document.getElementById("reconcile");
      const c = d.reconcile;
      if (!c.ran) {
        rc.textContent = "No reconciliation since sluiced started (run `sluice reconcile`).";
        rc.className = "";
      } else if (c.error) {
        rc.textContent = "Could not reconcile at " + when(c.at) + ": " + c.error;
        rc.className = "bad";
      } else {
        rc.textContent = (c.ok ? "Balanced" : c.differences + " differences") + " at last check, " + when(c.at);
        rc.className = c.ok ? "good" : "bad";
      }
    },
    job(d) {
      const j = d.job;
      document.getElementById("title").textContent = j.id;
      kv([["state", j.state, "state"], ["buyer", j.buyer_id],
        ["provider", link("/dashboard/provider?id=" + encodeURIComponent(j.provider_id), j.provider_id)],
        ["seconds metered", { text: String(j.seconds_metered), attrs: { class: "seconds" } }, "seconds"],
        ["sats used", money(j.spent_msat), "spent"], ["provider earned", money(j.earned_msat), "earned"],
        ["platform fees", money(j.fees_msat)], ["escrow", money(j.escrow_msat)],
        ["refunded", money(j.refunded_msat)], ["price", j.price_msat_per_second + " msat/s"],
        ["runway", j.runway_seconds + " s (" + j.health + ")"],
        ["runs out", when(j.depletion_time)], ["created", when(j.created_at)],
        ["started", when(j.started_at)], ["ended", when(j.ended_at)]]);
      sampleEarned(d.as_of, j.earned_msat);
      const [xs, ys] = payoutSeries(d.payouts);
      chart("chart-payouts", "sat paid (cumulative)", xs, ys);
      const pays = body("payouts");
      for (const p of d.payouts) row(pays, [when(p.created_at), money(p.amount_msat), money(p.fee_msat), p.state]);
      const ev = body("events");
      for (const e of d.events) row(ev, [when(e.at), e.from, e.to, e.cause, e.detail || ""]);
      const rf = body("refunds");
      for (const r of d.refunds) row(rf, [when(r.created_at), r.method, money(r.amount_msat), money(r.fee_msat), r.state]);
    },
    provider(d) {
      const p = d.provider;
      document.getElementById("title").textContent = p.alias ? p.alias + " (" + p.id + ")" : p.id;
      kv([["payable", money(p.payable_msat), "payable"], ["in flight", money(p.in_flight_msat), "inflight"],
        ["paid", money(p.paid_out_msat), "paid"], ["payouts (paid/tried)", p.payouts_succeeded + "/" + p.payouts],
        ["payout status", p.payout_status + (p.payout_status_reason ? ": " + p.payout_status_reason : ""), "status"],
        ["retry at", when(p.retry_at)], ["last payout", when(p.last_payout_at)]]);
      let total = 0;
      for (const j of d.jobs) total += j.earned_msat;
      sampleEarned(d.as_of, total);
      const [xs, ys] = payoutSeries(d.payouts);
      chart("chart-payouts", "sat paid (cumulative)", xs, ys);
      const pays = body("payouts");
      for (const x of d.payouts) row(pays, [when(x.created_at), money(x.amount_msat), money(x.fee_msat), x.state + (x.failure ? ": " + x.failure : "")]);
      const jobs = body("jobs");
      for (const j of d.jobs) row(jobs, [link("/dashboard/job?id=" + encodeURIComponent(j.id), j.id), j.state, { text: String(j.seconds_metered), cls: "num seconds" }, money(j.earned_msat), money(j.escrow_msat)], { "data-job": j.id });
    },
    vault(d) {
      if (!d.served) { kv([["vault", "this sluiced serves no vault"]]); return; }
      kv([["NAV", money(d.nav_msat), "nav"], ["value per share", d.value_per_share_msat + " msat", "vps"],
        ["share supply (ledger)", d.supply_units + " units (" + d.locked_units + " locked)", "supply"],
        ["share supply (tapd, as last recorded)", d.tapd_supply_known ? d.tapd_supply_units + " units at " + when(d.tapd_supply_at) : "none recorded", "tapd-supply"],
        ["idle", money(d.idle_msat), "idle"], ["liquid floor", { text: msat(d.floor_msat) + (d.floor_met ? " (met)" : " (NOT met)") }, "floor"],
        ["allocated", money(d.allocated_msat)],
        ["redemption queue", d.queue_len + " requests, " + d.queue_units + " units, " + msat(d.queued_msat), "queue"],
        ["open epoch", d.open_epoch ? "#" + d.open_epoch + ", closes " + when(d.open_epoch_due) : "none yet"]]);
      const xs = [], ys = [];
      for (const e of d.epochs) {
        if (e.closed && e.value_per_share_msat) { xs.push(new Date(e.end).getTime() / 1000); ys.push(Number(e.value_per_share_msat)); }
      }
      chart("chart-value", "msat per share", xs, ys);
      const rq = body("redemptions");
      for (const r of d.redemptions) row(rq, [r.id, r.provider_id, r.units, money(r.requested_msat), r.status, when(r.requested_at)]);
      document.getElementById("report-window").textContent = "Yield report over " + when(d.report_start) + " – " + when(d.report_end) + (d.vault_apy ? "; vault APY " + d.vault_apy : "");
      const st = body("strategies");
      for (const s of d.strategies) row(st, [s.name, money(s.principal_msat), money(s.capital_msat), money(s.income_msat), money(s.cost_msat), money(s.net_msat), s.return || "", s.apr || ""]);
      const ep = body("epochs");
      for (const e of d.epochs.slice().reverse()) row(ep, [e.number, when(e.start), when(e.end), e.seconds, money(e.earned_msat), money(e.fees_msat), money(e.reward_msat), e.issued_units, e.value_per_share_msat || "", e.root || "", e.tranche_asset_id ? e.tranche_asset_id + " (" + e.tranche_state + ")" : (e.tranche_state || "")]);
    },
  };

  const live = document.getElementById("live");
  function show(d) {
    if (d.error) { live.textContent = d.error; live.className = "live down"; return; }
    render[view](d);
    live.textContent = "live, as of " + when(d.as_of);
    live.className = "live ok";
    document.body.dataset.asOf = d.as_of;
  }
  fetch("/dashboard/api/" + view + query, { credentials: "same-origin" })
    .then(r => r.json()).then(show).catch(e => { live.textContent = String(e); });
  const es = new EventSource("/dashboard/stream/" + view + query);
  es.onmessage = m => show(JSON.parse(m.data));
  es.addEventListener("failure", m => show(JSON.parse(m.data)));
  es.addEventListener("logout", () => { es.close(); location.href = "/dashboard/login"; });
  es.onerror = () => { live.textContent = "disconnected, retrying…"; live.className = "live down"; };
})();
