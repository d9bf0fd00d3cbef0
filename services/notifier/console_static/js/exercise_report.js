// An exercise's after-action report as an officer's organisation sees it: every organisation's
// aggregates, its own contact points, expectations and corrective actions in full. (The
// planner's page, with its charts, is the same report: the officer can download it.)

import { h } from "./dom.js";
import { fullTime, number } from "./format.js";
import { t, term } from "./i18n.js";

function seconds(value) {
  return value === null || value === undefined ? "–" : t("report.seconds", { seconds: number(value, value < 100 ? 1 : 0) });
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
    [t("report.scenario"), report.scenario],
    [t("report.run"), report.run_id],
    [t("report.state"), term("runState", report.state)],
    [t("report.started"), fullTime(report.started_at)],
    [t("report.ended"), report.ended_at ? fullTime(report.ended_at) : "–"],
    [t("report.made"), fullTime(report.made_at)],
  ];
  const organisations = table(
    t("report.organisationsCaption"),
    [
      t("report.organisation"), t("report.contactPoints"), t("report.messages"), t("report.deliveredMedian"),
      t("report.acknowledged"), t("report.ackMedian"), t("report.ackWorst"), t("report.notAcknowledged"),
      t("report.failed"), t("report.escalations"),
    ],
    report.organisations.map((o) => [
      named(o.organisation_name, o.organisation), number(o.contact_points), number(o.messages), seconds(o.delivered.median),
      number(o.acknowledged.count), seconds(o.acknowledged.median), seconds(o.acknowledged.worst), number(o.never_acknowledged),
      number(o.failed), number(o.escalations),
    ]),
  );
  const contactPoints = report.contact_points.length
    ? table(
        own ? t("report.ownContactPoints", { organisation: own }) : t("report.contactPoints"),
        [
          t("report.contactPoint"), t("report.channels"), t("report.messages"), t("report.deliveredMedian"), t("report.p90"),
          t("report.worst"), t("report.acknowledged"), t("report.ackMedian"), t("report.p90"), t("report.worst"),
          t("report.neverAcknowledged"), t("report.failed"), t("report.escalations"),
        ],
        report.contact_points.map((c) => [
          named(c.contact_point_name, c.contact_point), c.channels.map((channel) => term("channel", channel)).join(", "), number(c.messages),
          seconds(c.delivered.median), seconds(c.delivered.p90), seconds(c.delivered.worst), number(c.acknowledged.count),
          seconds(c.acknowledged.median), seconds(c.acknowledged.p90), seconds(c.acknowledged.worst),
          c.never_acknowledged.join(", ") || "–", number(c.failed), number(c.escalations),
        ]),
      )
    : h("p", { class: "empty" }, t("report.noContactPoints"));
  const expectations = report.expectations.length
    ? table(
        own ? t("report.ownExpectations") : t("report.expectations"),
        [t("report.inject"), t("report.contactPoint"), t("report.expected"), t("report.met"), t("report.whatHappened")],
        report.expectations.map((e) => [
          e.inject,
          e.contact_point,
          e.within_seconds
            ? t("report.expectedWithin", { expected: term("expectation", e.expected), seconds: seconds(e.within_seconds) })
            : term("expectation", e.expected),
          e.met ? t("report.wasMet") : t("report.wasMissed"),
          e.detail,
        ]),
      )
    : h("p", { class: "empty" }, t("report.noExpectations"));
  const actions = report.corrective_actions.length
    ? h("ul", { class: "report-actions" }, report.corrective_actions.map((a) => h("li", {}, a.issue)))
    : h("p", { class: "empty" }, t("report.noActions"));
  return [
    h("dl", { class: "report-facts" }, facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    own ? h("p", { class: "report-shared", id: "report-shared-with" }, t("report.sharedWith", { organisation: own })) : null,
    organisations,
    contactPoints,
    expectations,
    h("h3", {}, t("report.actions")),
    actions,
  ];
}
