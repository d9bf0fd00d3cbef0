// Plane geometry for the composer's drawn areas: which of the map's regions a CAP polygon or
// circle touches. Points are [lon, lat]; distances use a local flat projection, close enough
// at the scale of a province (the outlines themselves are generalised, see regions.js).

const KM_PER_DEGREE = 111.32;

/** Whether `point` lies inside the closed `ring` (even-odd rule). */
export function inside([x, y], ring) {
  let within = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) within = !within;
  }
  return within;
}

function cross([ax, ay], [bx, by], [cx, cy]) {
  return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

function segmentsCross(a, b, c, d) {
  return cross(a, b, c) * cross(a, b, d) < 0 && cross(c, d, a) * cross(c, d, b) < 0;
}

function edges(ring) {
  return ring.map((point, i) => [point, ring[(i + 1) % ring.length]]);
}

/** Whether two closed rings overlap: one holds a corner of the other, or their edges cross. */
export function ringsTouch(a, b) {
  if (a.some((p) => inside(p, b)) || b.some((p) => inside(p, a))) return true;
  return edges(a).some(([p, q]) => edges(b).some(([r, s]) => segmentsCross(p, q, r, s)));
}

/** Kilometres from `point` to the segment p–q, in a flat projection around `point`. */
function kmToSegment(point, p, q) {
  const kx = KM_PER_DEGREE * Math.cos((point[1] * Math.PI) / 180);
  const flat = ([lon, lat]) => [(lon - point[0]) * kx, (lat - point[1]) * KM_PER_DEGREE];
  const [ax, ay] = flat(p);
  const [bx, by] = flat(q);
  const length2 = (bx - ax) ** 2 + (by - ay) ** 2;
  const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * (bx - ax) + ay * (by - ay)) / length2));
  return Math.hypot(ax + t * (bx - ax), ay + t * (by - ay));
}

/** Whether the circle (centre [lon, lat], radius in km) reaches into the closed ring. */
export function circleTouches(centre, radiusKm, ring) {
  return inside(centre, ring) || edges(ring).some(([p, q]) => kmToSegment(centre, p, q) <= radiusKm);
}

/** Kilometres between two [lon, lat] points (haversine). */
export function kmBetween([lon1, lat1], [lon2, lat2]) {
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.sqrt(a));
}
