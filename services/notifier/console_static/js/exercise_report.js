// An exercise's after-action report as an officer's organisation sees it: every organisation's
// aggregates, its own contact points, expectations and corrective actions in full. (The
// planner's page, with its charts, is the same report: the officer can download it.)

import { h } from "./dom.js";
import { fullTime } from "./format.js";

function seconds(value) {
  return value === null || value === undefined ? "–" : `${value < 100 ? value.toFixed(1) : value.toFixed(0)} s`;
}

function table(caption, head, rows) {
  return h(
    "table",
    { class: "report-table" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((cell) => h("th", { scope: "col" }, cell)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))),
  );
}

function named(name, id) {
  return name && name !== id ? `${name} (${id})` : id;
}

export function renderExerciseReport(report) {
  const own = report.shared_with;
  const facts = [
    ["Scenario", report.scenario],
    ["Run", report.run_id],
    ["State", report.state],
    ["Started", fullTime(report.started_at)],
    ["Ended", report.ended_at ? fullTime(report.ended_at) : "–"],
    ["Report made", fullTime(report.made_at)],
  ];
  const organisations = table(
    "Organisations (times in seconds from sending)",
    ["Organisation", "Contact points", "Messages", "Delivered, median", "Acknowledged", "Ack. median", "Ack. worst", "Not acknowledged", "Failed", "Escalations"],
    report.organisations.map((o) => [
      named(o.organisation_name, o.organisation), String(o.contact_points), String(o.messages), seconds(o.delivered.median),
      String(o.acknowledged.count), seconds(o.acknowledged.median), seconds(o.acknowledged.worst), String(o.never_acknowledged),
      String(o.failed), String(o.escalations),
    ]),
  );
  const contactPoints = report.contact_points.length
    ? table(
        own ? `Your contact points (${own})` : "Contact points",
        ["Contact point", "Channels", "Messages", "Delivered, median", "p90", "worst", "Acknowledged", "Ack. median", "p90", "worst", "Never acknowledged", "Failed", "Escalations"],
        report.contact_points.map((c) => [
          named(c.contact_point_name, c.contact_point), c.channels.join(", "), String(c.messages),
          seconds(c.delivered.median), seconds(c.delivered.p90), seconds(c.delivered.worst), String(c.acknowledged.count),
          seconds(c.acknowledged.median), seconds(c.acknowledged.p90), seconds(c.acknowledged.worst),
          c.never_acknowledged.join(", ") || "–", String(c.failed), String(c.escalations),
        ]),
      )
    : h("p", { class: "empty" }, "None of the run's messages reached your contact points.");
  const expectations = report.expectations.length
    ? table(
        own ? "Expectations of your contact points" : "Expectations",
        ["Inject", "Contact point", "Expected", "Met", "What happened"],
        report.expectations.map((e) => [
          e.inject, e.contact_point, e.within_seconds ? `${e.expected} within ${seconds(e.within_seconds)}` : e.expected,
          e.met ? "✓ met" : "✗ missed", e.detail,
        ]),
      )
    : h("p", { class: "empty" }, "The scenario states no expectation of your contact points.");
  const actions = report.corrective_actions.length
    ? h("ul", { class: "report-actions" }, report.corrective_actions.map((a) => h("li", {}, a.issue)))
    : h("p", { class: "empty" }, "No corrective action is proposed for your organisation.");
  return [
    h("dl", { class: "report-facts" }, facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    own ? h("p", { class: "report-shared", id: "report-shared-with" }, `Made for ${own}: your contact points, expectations and corrective actions in full; the other organisations as aggregates only.`) : null,
    organisations,
    contactPoints,
    expectations,
    h("h3", {}, "Candidate corrective actions"),
    actions,
  ];
}
