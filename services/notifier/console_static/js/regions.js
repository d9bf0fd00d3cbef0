// The network's regions on the map. Their outlines are Eurostat's NUTS 2021 regions, the ones
// the registry routes by (outlines.js, generated from services/common/data); the two context
// shapes outside those data are hand-drawn. Good enough to recognise a province.
//
// Their names are the catalogue's `place.CODE` keys, in the interface language (placeName).
// `covers` lists the NUTS codes a shape stands for; "context" shapes are drawn in grey so the
// map is recognisable, but are not regions of the network.

import { term } from "./i18n.js";
import { OUTLINES } from "./outlines.js";

export const BOUNDS = { west: 2.3, east: 9.3, south: 47.35, north: 52.65 };

export const SEA = [
  [2.3, 51.05], [2.55, 51.09], [3.37, 51.37], [3.45, 51.45], [3.45, 51.55], [3.69, 51.7],
  [3.8, 51.75], [4.1, 51.95], [4.5, 52.3], [4.75, 52.75], [2.3, 52.75],
];

export const REGIONS = [
  // ---------------------------------------------------------------- Belgium
  { code: "BE25", country: "BE" }, // West Flanders
  { code: "BE23", country: "BE" }, // East Flanders
  { code: "BE21", country: "BE" }, // Antwerp
  { code: "BE24", country: "BE", context: true }, // Flemish Brabant
  { code: "BE10", country: "BE", context: true }, // Brussels-Capital
  { code: "BE22", country: "BE" }, // Limburg (BE)
  { code: "BE31", country: "BE", context: true }, // Walloon Brabant
  { code: "BE32", country: "BE" }, // Hainaut
  { code: "BE35", country: "BE" }, // Namur
  { code: "BE33", country: "BE" }, // Liège
  { code: "BE34", country: "BE" }, // Luxembourg (BE)
  // ---------------------------------------------------------------- Netherlands
  { code: "NL34", country: "NL" }, // Zeeland
  { code: "NL41", country: "NL" }, // North Brabant
  { code: "NL42", country: "NL" }, // Limburg (NL)
  { code: "NL22", country: "NL" }, // Gelderland
  {
    code: "NL-north", country: "NL", context: true, // Rest of the Netherlands
    covers: ["NL1", "NL21", "NL23", "NL31", "NL32", "NL33", "NL35", "NL36"],
  },
  // ---------------------------------------------------------------- Luxembourg
  { code: "LU00", country: "LU" }, // Luxembourg
  // ---------------------------------------------------------------- Germany
  { code: "DEA1", country: "DE" }, // Düsseldorf
  { code: "DEA2", country: "DE" }, // Cologne
  {
    code: "DEA-east", country: "DE", context: true, // Münster, Detmold and Arnsberg
    covers: ["DEA3", "DEA4", "DEA5"],
  },
  { code: "DEB1", country: "DE" }, // Koblenz
  { code: "DEB2", country: "DE" }, // Trier
  { code: "DEB3", country: "DE" }, // Rhenish Hesse-Palatinate
  { code: "DEC0", country: "DE" }, // Saarland
  {
    code: "DE13", country: "DE", // Freiburg
    outline: [
      [7.95, 48.72], [8.35, 48.6], [8.5, 48.3], [8.75, 48.1], [9.0, 47.95], [9.2, 47.85],
      [9.2, 47.66], [8.6, 47.62], [8.2, 47.6], [7.59, 47.59], [7.55, 47.75], [7.58, 48.03],
      [7.8, 48.58],
    ],
  },
  // ---------------------------------------------------------------- France
  {
    code: "FRE", country: "FR", context: true, // Hauts-de-France
    outline: [
      [2.55, 51.09], [2.63, 50.83], [2.9, 50.7], [3.18, 50.75], [3.28, 50.53], [3.68, 50.42],
      [4.03, 50.35], [4.2, 50.27], [4.23, 49.96], [4.05, 49.6], [3.65, 49.3], [3.1, 49.1],
      [2.3, 49.1], [2.3, 51.05],
    ],
  },
  { code: "FRF2", country: "FR" }, // Champagne-Ardenne
  { code: "FRF3", country: "FR" }, // Lorraine
  { code: "FRF1", country: "FR" }, // Alsace
];

/** The countries of the network, in the order the region filter lists them. */
export const COUNTRIES = ["BE", "NL", "LU", "DE", "FR"];

/** Larger units the filter offers besides the NUTS 2 regions (the countries among them). */
export const GROUPS = [
  "BE", "BE2", "BE3", "NL", "NL2", "NL3", "NL4", "LU", "DE", "DEA", "DEB", "DEC", "DE1", "FR", "FRF",
];

/** The name of a region, group or country in the interface language (the catalogue's place.*). */
export function placeName(code) {
  return term("place", code);
}

/** The NUTS codes a shape stands for. */
export function coversOf(region) {
  return region.covers ?? [region.code];
}

const RINGS = new Map(
  REGIONS.map((region) => {
    const rings = coversOf(region).flatMap((code) =>
      Object.keys(OUTLINES).filter((key) => key.startsWith(code)).flatMap((key) => OUTLINES[key]),
    );
    return [region.code, rings.length ? rings : [region.outline]];
  }),
);

/** A shape's outline as rings of [lon, lat]: one per part of the regions it stands for. */
export function ringsOf(region) {
  return RINGS.get(region.code);
}
