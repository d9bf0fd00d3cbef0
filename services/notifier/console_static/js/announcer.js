// Making a new alert impossible to miss: ARIA live regions for screen readers, an optional
// tone (WebAudio, no sound file), and a count in the tab's title.

const SOUND_KEY = "crossalert.console.sound";

export class Announcer {
  constructor({ polite, assertive, storage = window.localStorage }) {
    this.polite = polite;
    this.assertive = assertive;
    this.storage = storage;
    this.soundOn = storage.getItem(SOUND_KEY) === "on";
    this.audio = null;
    this.spoken = [];
  }

  /** Say `text` to screen readers; `urgent` interrupts what they are reading. */
  say(text, { urgent = false } = {}) {
    const region = urgent ? this.assertive : this.polite;
    this.spoken.push({ text, urgent, at: new Date().toISOString() });
    // Emptied first, so the same sentence twice is read twice.
    region.textContent = "";
    setTimeout(() => {
      region.textContent = text;
    }, 60);
  }

  /** Turn the tone on or off; called from a click, which also lets the browser play audio. */
  setSound(on) {
    this.soundOn = on;
    this.storage.setItem(SOUND_KEY, on ? "on" : "off");
    if (on) {
      this.unlock();
      this.chime();
    }
  }

  /** Browsers play audio only after a user gesture: create or resume the context in one. */
  unlock() {
    if (!this.soundOn) return;
    try {
      this.audio ??= new AudioContext();
      if (this.audio.state === "suspended") this.audio.resume();
    } catch {
      this.audio = null;
    }
  }

  /** Whether the tone would actually play now. */
  get audible() {
    return Boolean(this.soundOn && this.audio && this.audio.state === "running");
  }

  /** Three short two-tone pulses. */
  chime() {
    if (!this.soundOn || !this.audio) return;
    const start = this.audio.currentTime + 0.05;
    for (let pulse = 0; pulse < 3; pulse += 1) {
      for (const [offset, frequency] of [[0, 880], [0.16, 660]]) {
        const at = start + pulse * 0.45 + offset;
        const oscillator = this.audio.createOscillator();
        const gain = this.audio.createGain();
        oscillator.type = "sine";
        oscillator.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.15);
        oscillator.connect(gain).connect(this.audio.destination);
        oscillator.start(at);
        oscillator.stop(at + 0.16);
      }
    }
  }
}
