// The network map: region outlines from regions.js drawn as SVG, the regions an alert covers
// highlighted, its CAP polygons and circles on top. Equirectangular, scaled for 50°N. The
// outlines are Eurostat's, whose licence asks for the attribution the map carries.

import { regionsOverlap, severityRank } from "./cap.js";
import { s } from "./dom.js";
import { t, term } from "./i18n.js";
import { BOUNDS, REGIONS, SEA, coversOf, placeName, ringsOf } from "./regions.js";

const SCALE = 100;
const KX = Math.cos((50 * Math.PI) / 180) * SCALE;
const KM_PER_DEGREE = 111.32;
export const WIDTH = (BOUNDS.east - BOUNDS.west) * KX;
export const HEIGHT = (BOUNDS.north - BOUNDS.south) * SCALE;

/** [lon, lat] to SVG user units. */
export function project([lon, lat]) {
  return [(lon - BOUNDS.west) * KX, (BOUNDS.north - lat) * SCALE];
}

/** SVG user units back to [lon, lat] (where the officer clicked). */
export function unproject([x, y]) {
  return [x / KX + BOUNDS.west, BOUNDS.north - y / SCALE];
}

function pathOf(points) {
  return `M${points.map((p) => project(p).map((n) => n.toFixed(1)).join(",")).join("L")}Z`;
}

/** The largest of a shape's rings (the mainland of a region with islands), for its label. */
function largest(rings) {
  const size = (ring) => Math.abs(ring.reduce((sum, [x0, y0], i) => {
    const [x1, y1] = ring[(i + 1) % ring.length];
    return sum + x0 * y1 - x1 * y0;
  }, 0));
  return rings.reduce((best, ring) => (size(ring) > size(best) ? ring : best));
}

function centroid(points) {
  let area = 0;
  let cx = 0;
  let cy = 0;
  const xy = points.map(project);
  for (let i = 0; i < xy.length; i += 1) {
    const [x0, y0] = xy[i];
    const [x1, y1] = xy[(i + 1) % xy.length];
    const cross = x0 * y1 - x1 * y0;
    area += cross;
    cx += (x0 + x1) * cross;
    cy += (y0 + y1) * cross;
  }
  return [cx / (3 * area), cy / (3 * area)];
}

/** The drawn regions a region code falls in or contains (BE332 → BE33; BE3 → BE31..BE35). */
export function regionsFor(code) {
  return REGIONS.filter((region) => coversOf(region).some((covered) => regionsOverlap(code, covered)));
}

function severityClass(severity) {
  return `sev-${String(severity ?? "unknown").toLowerCase()}`;
}

function boxOf(points, box) {
  for (const [x, y] of points) {
    box.minX = Math.min(box.minX, x);
    box.minY = Math.min(box.minY, y);
    box.maxX = Math.max(box.maxX, x);
    box.maxY = Math.max(box.maxY, y);
  }
  return box;
}

function viewBoxAround(box) {
  if (!Number.isFinite(box.minX)) return `0 0 ${WIDTH.toFixed(0)} ${HEIGHT.toFixed(0)}`;
  const minSpan = 140;
  let width = Math.max(box.maxX - box.minX, minSpan) * 1.3;
  let height = Math.max(box.maxY - box.minY, minSpan) * 1.3;
  // Keep the map's proportions so the frame never shows a stretched strip.
  const ratio = WIDTH / HEIGHT;
  if (width / height < ratio) width = height * ratio;
  else height = width / ratio;
  width = Math.min(width, WIDTH);
  height = Math.min(height, HEIGHT);
  const cx = (box.minX + box.maxX) / 2;
  const cy = (box.minY + box.maxY) / 2;
  const x = Math.min(Math.max(cx - width / 2, 0), WIDTH - width);
  const y = Math.min(Math.max(cy - height / 2, 0), HEIGHT - height);
  return `${x.toFixed(0)} ${y.toFixed(0)} ${width.toFixed(0)} ${height.toFixed(0)}`;
}

function regionTitle(region, severity) {
  const params = { name: placeName(region.code), code: region.code, country: placeName(region.country), severity: term("severity", severity) };
  return severity === undefined ? t("map.region", params) : t("map.regionCovered", params);
}

function circleTitle(circle) {
  // The centre as CAP writes it: a decimal comma would read as the separator.
  const params = { radius: circle.radiusKm, lat: String(circle.lat), lon: String(circle.lon), area: circle.areaDesc };
  return circle.areaDesc ? t("map.circleNamed", params) : t("map.circle", params);
}

/**
 * The map as an SVG element.
 * `highlights`: [{code, severity}] regions to colour; `polygons`: [{points: [[lat, lon]...]}];
 * `circles`: [{lat, lon, radiusKm}]; `zoom`: frame the highlighted area rather than the network.
 */
export function renderMap({ highlights = [], polygons = [], circles = [], zoom = false, title, description }) {
  const worst = new Map();
  for (const { code, severity } of highlights) {
    for (const region of regionsFor(code)) {
      const held = worst.get(region.code);
      if (!held || severityRank(severity) > severityRank(held)) worst.set(region.code, severity);
    }
  }
  const box = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };

  const regionShapes = REGIONS.map((region) => {
    const severity = worst.get(region.code);
    const rings = ringsOf(region);
    if (severity !== undefined) boxOf(rings.flat().map(project), box);
    return s(
      "path",
      {
        d: rings.map(pathOf).join(""),
        class: ["region", region.context && "context", severity !== undefined && "hit", severity !== undefined && severityClass(severity)],
        "data-code": region.code,
      },
      s("title", {}, regionTitle(region, severity)),
    );
  });

  const polygonShapes = polygons.map((polygon) => {
    const lonLat = polygon.points.map(([lat, lon]) => [lon, lat]);
    boxOf(lonLat.map(project), box);
    return s("path", { d: pathOf(lonLat), class: "cap-polygon" }, s("title", {}, t("map.polygon", { area: polygon.areaDesc ?? "" })));
  });

  const circleShapes = circles.map((circle) => {
    const [cx, cy] = project([circle.lon, circle.lat]);
    const ry = (circle.radiusKm / KM_PER_DEGREE) * SCALE;
    const rx = (circle.radiusKm / (KM_PER_DEGREE * Math.cos((circle.lat * Math.PI) / 180))) * KX;
    boxOf([[cx - rx, cy - ry], [cx + rx, cy + ry]], box);
    return s(
      "g",
      { class: "cap-circle" },
      s("title", {}, circleTitle(circle)),
      s("ellipse", { cx: cx.toFixed(1), cy: cy.toFixed(1), rx: rx.toFixed(1), ry: ry.toFixed(1) }),
      s("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r: 2.5, class: "cap-centre" }),
    );
  });

  const viewBox = zoom ? viewBoxAround(box) : `0 0 ${WIDTH.toFixed(0)} ${HEIGHT.toFixed(0)}`;
  const labelSize = (Number(viewBox.split(" ")[2]) / 32).toFixed(1);
  const labels = REGIONS.filter((region) => !region.context).map((region) => {
    const [x, y] = centroid(largest(ringsOf(region)));
    return s("text", { x: x.toFixed(1), y: y.toFixed(1), class: ["region-label", worst.has(region.code) && "hit"], "font-size": labelSize }, region.code);
  });

  const titleId = `map-title-${Math.random().toString(36).slice(2, 8)}`;
  return s(
    "svg",
    { class: "map", viewBox, role: "img", "aria-labelledby": titleId, preserveAspectRatio: "xMidYMid meet" },
    s("title", { id: titleId }, [title, description].filter(Boolean).join(". ")),
    s("rect", { x: 0, y: 0, width: WIDTH.toFixed(0), height: HEIGHT.toFixed(0), class: "land" }),
    s("path", { d: pathOf(SEA), class: "sea" }),
    s("g", { class: "regions" }, regionShapes),
    s("g", { class: "labels", "aria-hidden": "true" }, labels),
    s("g", { class: "cap-shapes" }, polygonShapes, circleShapes),
    s("text", { x: (WIDTH - 4).toFixed(0), y: (HEIGHT - 4).toFixed(0), class: "attribution", "text-anchor": "end" }, "© EuroGeographics for the administrative boundaries"),
  );
}
