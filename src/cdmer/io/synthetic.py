"""SYNTHETIC micro-expression databases, written to disk in the CASME II and SMIC layouts.

Nothing here is real data. The generator draws grey cartoon faces, animates
brief low-intensity facial actions on them and films them with simulated
cameras, so that the loaders (:mod:`cdmer.io.databases`), the LBP-TOP
extractor and the adaptation methods can be run end to end without the
licensed databases. Every folder it writes holds a ``README.txt`` that starts
with the word ``SYNTHETIC``; the CASME II-like coding sheet says so too (a
``README`` worksheet and the workbook title), and ``cdmer info`` reports it.

What is simulated, and why:

- **Subjects** (:func:`draw_face`): face ellipse, skin tone and texture,
  hairline, eye, brow, nose and mouth geometry differ per subject, so that
  identity varies across clips as it does in real databases.
- **Micro-expressions** (:func:`draw_event`): local displacements of the face
  at the facial-action locations, with the skin folds they deepen
  (:func:`fold_layers`), rising from onset to apex and back to offset within
  a fraction of a second (0.28 to 0.48 s; real micro-expressions last under
  0.5 s). Positive: lip corners pulled up and out (AU12), cheeks raised
  (AU6). Negative: brows lowered and drawn together (AU4), lip corners pulled
  down (AU15), chin raised (AU17). Surprise: brows raised (AU1+2), mouth
  opened (AU25/26). Others, fear and sadness (CASME II only, dropped by the
  three-class protocol) use other actions. About one lateral action in seven
  is one-sided (``L12``, ``R4``). Amplitude is 2.5 to 4.5 % of the face width
  at apex (low intensity, but well above the sensor noise), plus small head
  jitter and a small per-clip pose change.
- **Cameras** (:data:`CAMERAS`): a CASME II-like camera (60 fps, 96 x 80
  pixels, tight face crop, even light, little noise, sharp) and SMIC VIS- and
  NIR-like cameras (25 fps, lower resolution, looser crop, more noise and
  blur, uneven light, flicker; the NIR one with a near-infrared grey
  response: bright, smooth skin, faint lips, low contrast, vignetting). As in
  SMIC, the VIS and NIR databases film the *same* events of the same
  subjects with two cameras.

The parameters were tuned (``tests/test_synthetic.py`` checks it) so that the
task is learnable within a camera and harder across cameras: with LBP-TOP
(R = 3, P = 8, u2, grids 1, 2, 4, 8) and a linear SVM (C = 1), 5-fold
cross-validation within the CASME II-like camera reaches 0.86 to 0.94 over
seeds 0 to 2 (majority class 0.61), the same SVM trained there scores 0.42 to
0.56 on the SMIC-like cameras.
- **Class imbalance** of the paper's Table 1 (CASME II 91/32/25, SMIC VIS and
  NIR 28/23/20 as negative/positive/surprise), scaled down.

Files are PNG (lossless, so the bytes depend only on the seed, the library
versions and the platform); the ``.xlsx`` zip entries and document properties
carry a fixed time stamp. Same seed, same versions: the same bytes.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cdmer.errors import InputError
from cdmer.io.databases.report import SYNTHETIC_MARKER

#: Canonical face canvas (height, width) on which faces are drawn and moved.
CANVAS = (120, 100)

#: Sizes of the generated databases. ``counts`` are clips per original
#: emotion (CASME II) or class (SMIC); ``smic_pad`` the range of neutral
#: frames added around a SMIC micro-expression; ``resolution`` and ``fps``
#: scale every camera.
SIZES = {
    "tiny": {
        "casme2_counts": {"disgust": 4, "repression": 2, "happiness": 3, "surprise": 3, "others": 2},
        "casme2_subjects": 4,
        "smic_counts": {"negative": 4, "positive": 3, "surprise": 3},
        "smic_subjects": 3,
        "smic_pad": (1, 2),
        "resolution": 0.5,
        "fps": 1.0,
    },
    "small": {
        # Table 1 scaled by ~1/3 (CASME II) and ~0.7 (SMIC).
        "casme2_counts": {"disgust": 21, "repression": 9, "happiness": 11, "surprise": 8,
                          "others": 6, "fear": 1, "sadness": 1},
        "casme2_subjects": 10,
        "smic_counts": {"negative": 20, "positive": 16, "surprise": 14},
        "smic_subjects": 8,
        "smic_pad": (1, 3),
        "resolution": 1.0,
        "fps": 1.0,
    },
}

#: Range of the apex displacement of a facial action, in % of the face width.
AMPLITUDE = (2.5, 4.5)

#: Onset-to-apex and apex-to-offset durations, in seconds.
RISE = (0.10, 0.18)
FALL = (0.18, 0.30)

#: Head pose change per clip: translation (canvas px), relative scale, rotation (degrees), each +-.
POSE = (0.7, 0.01, 1.0)

#: Head jitter (canvas px, amplitude of each of three sinusoids) and drift (px/s).
JITTER = 0.1
DRIFT = 0.5

#: Darkening of the deepest skin fold at apex (fraction of the skin's grey).
FOLD_DEPTH = 0.6

#: Three-class label of each emotion (paper section 4.1); ``None``: dropped.
EMOTION_LABEL = {"happiness": "positive", "disgust": "negative", "repression": "negative",
                 "surprise": "surprise", "others": None, "fear": None, "sadness": None,
                 "negative": "negative", "positive": "positive"}


@dataclass(frozen=True)
class Camera:
    """A simulated camera: how a face becomes grey frames.

    Parameters
    ----------
    name : str
    fps : float
        Frames per second: the same micro-expression spans more frames at a
        higher rate.
    size : (int, int)
        Frame (height, width) in pixels.
    skin, lips, brows, texture, sclera, iris : float
        Grey response to each facial material (reflectance in [0, 1] for
        skin, sclera, iris; darkening factors for lips and brows; gain of the
        skin texture). A near-infrared camera sees bright, smooth skin and
        faint lips.
    gamma, contrast, brightness : float
        Tone curve ``brightness + contrast * (v ** gamma - 0.5)``.
    noise : float
        Standard deviation of the sensor noise, in grey levels.
    blur : float
        Gaussian blur sigma, in output pixels (optics and focus).
    illumination : float
        Strength of a per-clip linear light gradient.
    vignetting : float
        Darkening at the frame corners.
    flicker : float
        Standard deviation of a per-frame gain change.
    folds : float
        Visibility of skin folds (shading; softer in near infrared).
    zoom, shift : float, (float, float)
        Framing of the face crop: magnification about the canvas centre and
        offset (canvas pixels) of the viewed region. Databases crop faces
        differently, so the same block of a grid covers different parts of
        the face.
    """

    name: str
    fps: float
    size: tuple
    skin: float = 0.62
    lips: float = 0.28
    brows: float = 0.55
    texture: float = 1.0
    sclera: float = 0.85
    iris: float = 0.12
    gamma: float = 1.0
    contrast: float = 1.0
    brightness: float = 0.5
    noise: float = 1.0
    blur: float = 0.4
    illumination: float = 0.05
    vignetting: float = 0.0
    flicker: float = 0.0
    folds: float = 1.0
    zoom: float = 1.0
    shift: tuple = (0.0, 0.0)

    def scaled(self, resolution=1.0, fps=1.0):
        """The same camera with its frame size and frame rate scaled."""
        h, w = self.size
        size = (max(24, int(round(h * resolution))), max(20, int(round(w * resolution))))
        return Camera(**{**self.__dict__, "size": size, "fps": self.fps * fps})


#: The simulated cameras.
CAMERAS = {
    "casme2": Camera("casme2", fps=60.0, size=(96, 80), skin=0.62, lips=0.30, brows=0.55, texture=1.0,
                     gamma=1.0, contrast=1.0, brightness=0.5, noise=1.0, blur=0.4, illumination=0.05,
                     vignetting=0.0, flicker=0.003),
    "smic_vis": Camera("smic_vis", fps=25.0, size=(72, 60), skin=0.58, lips=0.25, brows=0.5, texture=1.2,
                       gamma=0.8, contrast=0.9, brightness=0.48, noise=3.0, blur=0.8, illumination=0.25,
                       vignetting=0.1, flicker=0.01, zoom=0.9, shift=(0.0, 3.0)),
    "smic_nir": Camera("smic_nir", fps=25.0, size=(64, 52), skin=0.8, lips=0.06, brows=0.35, texture=0.5,
                       sclera=0.7, iris=0.2, gamma=1.4, contrast=0.7, brightness=0.52, noise=4.0, blur=1.1,
                       illumination=0.3, vignetting=0.3, flicker=0.015, folds=0.8, zoom=0.92,
                       shift=(1.0, 2.0)),
}


@dataclass(frozen=True)
class Face:
    """One subject's face: geometry (canvas pixels) and skin texture fields."""

    center: tuple
    axes: tuple
    background: float
    tone: float
    hairline: float
    eye_y: float
    eye_dx: float
    eye_size: tuple
    brow_y: float
    brow_len: float
    brow_thick: float
    brow_arch: float
    nose_y: float
    mouth_y: float
    mouth_w: float
    lip_h: float
    smile: float
    texture: np.ndarray = field(repr=False)
    hair: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Event:
    """One micro-expression: which facial actions, how strong, when, and the head's motion.

    ``actions`` is a list of ``(x, y, vx, vy, sigma)`` displacement bumps in
    canvas pixels at apex; ``wrinkles`` the skin folds that deepen with them
    (layers of :func:`fold_layers`, with their weight at apex); ``rise`` and
    ``fall`` are the onset-to-apex and apex-to-offset durations in seconds.
    """

    emotion: str
    action_units: str
    actions: tuple
    wrinkles: tuple      # (fold layer name, weight at apex)
    rise: float
    fall: float
    pose: tuple          # (dx, dy, scale, angle in radians)
    jitter: np.ndarray   # (k, 4): amplitude x, amplitude y, frequency Hz, phase
    drift: tuple         # px per second (x, y)

    @property
    def duration(self):
        return self.rise + self.fall


@dataclass
class SyntheticClip:
    """A rendered clip: the grey volume and where the micro-expression is in it."""

    volume: np.ndarray  # (T, H, W) uint8
    onset: int          # frame indices, 0-based
    apex: int
    offset: int
    event: Event


def draw_face(rng):
    """Draw one subject's face.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    Face
    """
    h, w = CANVAS
    cx = w / 2 + rng.uniform(-2, 2)
    cy = h * 0.53 + rng.uniform(-3, 3)
    ax, ay = rng.uniform(38, 45), rng.uniform(50, 58)
    return Face(
        center=(cx, cy),
        axes=(ax, ay),
        background=rng.uniform(0.12, 0.4),
        tone=rng.uniform(0.85, 1.1),
        hairline=cy - ay * rng.uniform(0.62, 0.8),
        eye_y=cy - ay * rng.uniform(0.12, 0.22),
        eye_dx=ax * rng.uniform(0.38, 0.46),
        eye_size=(rng.uniform(6.5, 8.5), rng.uniform(2.4, 3.4)),
        brow_y=0.0 + rng.uniform(8.0, 11.0),  # distance above the eyes
        brow_len=rng.uniform(8.5, 11.5),
        brow_thick=rng.uniform(2.0, 3.4),
        brow_arch=rng.uniform(0.5, 2.5),
        nose_y=cy + ay * rng.uniform(0.18, 0.27),
        mouth_y=cy + ay * rng.uniform(0.45, 0.55),
        mouth_w=rng.uniform(10.0, 13.5),
        lip_h=rng.uniform(2.2, 3.6),
        smile=rng.uniform(-1.0, 1.0),
        texture=(0.05 * _smooth_noise(rng, CANVAS, 1.0) + 0.06 * _smooth_noise(rng, CANVAS, 4.0)).astype(
            np.float32),
        hair=_smooth_noise(rng, CANVAS, 1.5).astype(np.float32),
    )


def draw_event(emotion, face, rng, onesided=0.15):
    """Draw the facial actions, timing and head motion of one micro-expression.

    Parameters
    ----------
    emotion : str
        ``happiness``, ``disgust``, ``repression``, ``surprise``, ``others``,
        ``fear``, ``sadness`` (CASME II) or ``negative``, ``positive``
        (SMIC; ``surprise`` serves both).
    face : Face
        Where the actions are (eyes, brows, mouth of this subject).
    rng : numpy.random.Generator
    onesided : float
        Probability that a lateral action happens on one side only.

    Returns
    -------
    Event
    """
    cx, _ = face.center
    brow_y = face.eye_y - face.brow_y
    left, right = cx - face.eye_dx, cx + face.eye_dx
    mouth_l, mouth_r = cx - face.mouth_w, cx + face.mouth_w
    amp = rng.uniform(*AMPLITUDE) * face.axes[0] * 2 / 100  # % of the face width, in canvas pixels

    side = None
    if rng.random() < onesided:
        side = "L" if rng.random() < 0.5 else "R"

    def pair(xl, xr, y, vx, vy, sigma, w=1.0):
        # Left/right bumps; vx is outward (mirrored). "L"/"R" are the subject's sides (image right/left).
        out = []
        if side != "L":
            out.append((xl, y, -vx * amp * w, vy * amp * w, sigma))
        if side != "R":
            out.append((xr, y, vx * amp * w, vy * amp * w, sigma))
        return out

    def folds(name, w=1.0, lateral_=True):
        # Skin folds of an action unit; image-left folds are the subject's right ("R").
        if not lateral_:
            return [(name, w)]
        return [(f"{name}:{k}", w) for k in ("R", "L") if side in (None, k)]

    def units(*codes):
        return "+".join(f"{side}{c}" if side and c in lateral else str(c) for c in codes)

    lateral = {4, 12, 14, 15, 6, 1, 2}
    e = emotion.lower()
    actions, wrinkles = [], []
    if e in ("happiness", "positive"):
        cheeks = rng.uniform(0.3, 0.8)
        actions += pair(mouth_l, mouth_r, face.mouth_y, 0.6, -1.0, 4.5)  # AU12
        actions += pair(left, right, face.eye_y + 11, 0.0, -0.8, 6.0, cheeks)  # AU6
        wrinkles += folds("nasolabial") + folds("crowsfeet", cheeks)
        au = units(6, 12) if cheeks > 0.5 else units(12)
    elif e in ("disgust", "repression", "negative"):
        brows, corners = (rng.uniform(0.8, 1.2), rng.uniform(0.3, 0.8)) if e != "repression" else (
            rng.uniform(0.3, 0.7), rng.uniform(0.8, 1.2))
        actions += pair(cx - 5, cx + 5, brow_y, -0.8, 1.0, 5.5, brows)  # AU4: down and together
        actions += pair(mouth_l, mouth_r, face.mouth_y, 0.1, 1.0, 4.5, corners)  # AU15
        chin = rng.uniform(0.0, 0.6)
        actions.append((cx, face.mouth_y + 10, 0.0, -0.8 * amp * chin, 5.0))  # AU17
        wrinkles += folds("furrows", brows, False) + folds("marionette", corners) + folds("chin", chin, False)
        au = units(4, 15) if brows > corners else units(15, 17) if e == "repression" else units(4, 15)
    elif e == "surprise":
        side = None
        mouth = rng.uniform(0.4, 1.1)
        actions += pair(left, right, brow_y, 0.1, -1.2, 7.0)  # AU1+2
        actions.append((cx, face.mouth_y + face.lip_h + 1.5, 0.0, 1.3 * amp * mouth, 5.0))  # AU25/26
        actions.append((cx, face.mouth_y - face.lip_h, 0.0, -0.3 * amp * mouth, 4.0))
        wrinkles += folds("forehead", 1.0, False) + folds("mouth", mouth, False)
        au = "1+2+25" if mouth > 0.7 else "1+2"
    elif e == "others":
        choice = rng.integers(3)
        if choice == 0:
            actions += pair(mouth_l, mouth_r, face.mouth_y, 1.0, 0.0, 4.0)  # AU14 dimpler
            wrinkles += folds("dimple")
            au = units(14)
        elif choice == 1:
            actions += pair(left, right, face.eye_y - 1, 0.0, 0.6, 4.0)  # AU7 lid tightener
            wrinkles += folds("crowsfeet", 0.5)
            au = "7"
        else:
            actions.append((cx, face.mouth_y + 10, 0.0, -1.0 * amp, 5.0))  # AU17 chin raiser
            wrinkles += folds("chin", 1.0, False)
            au = "?" if rng.random() < 0.5 else "17"
    elif e == "fear":
        side = None
        actions += pair(cx - 5, cx + 5, brow_y, -0.6, -0.8, 5.0)  # AU1+4 brows up and together
        actions += pair(mouth_l, mouth_r, face.mouth_y, 1.0, 0.2, 4.0)  # AU20 lip stretcher
        wrinkles += folds("forehead", 0.6, False) + folds("furrows", 0.6, False)
        au = "1+4+20"
    elif e == "sadness":
        side = None
        actions += pair(cx - 4, cx + 4, brow_y, -0.2, -0.8, 4.0)  # AU1 inner brow raiser
        actions += pair(mouth_l, mouth_r, face.mouth_y, 0.0, 1.0, 4.5)  # AU15
        wrinkles += folds("forehead", 0.4, False) + folds("marionette")
        au = "1+15"
    else:
        raise InputError(f"unknown emotion {emotion!r}: expected one of {', '.join(EMOTION_LABEL)}",
                         field="emotion")
    k = 3
    jitter = np.column_stack([JITTER * rng.uniform(0.2, 1.0, k), JITTER * rng.uniform(0.2, 1.0, k),
                              rng.uniform(0.5, 4.0, k), rng.uniform(0, 2 * np.pi, k)])
    return Event(
        emotion=e,
        action_units=au,
        actions=tuple(actions),
        wrinkles=tuple(wrinkles),
        rise=rng.uniform(*RISE),
        fall=rng.uniform(*FALL),
        pose=(POSE[0] * rng.uniform(-1, 1), POSE[0] * rng.uniform(-1, 1), 1 + POSE[1] * rng.uniform(-1, 1),
              np.deg2rad(POSE[2] * rng.uniform(-1, 1))),
        jitter=jitter,
        drift=(DRIFT * rng.uniform(-1, 1), DRIFT * rng.uniform(-1, 1)),
    )


def fold_layers(face):
    """Skin folds that facial actions deepen, as maps in [0, 1] on the canvas (face coordinates).

    ``furrows`` (AU4: vertical lines between the brows), ``forehead`` (AU1+2:
    horizontal lines), ``nasolabial`` (AU12: nose wing to mouth corner),
    ``crowsfeet`` (AU6, AU7: outer eye corners), ``marionette`` (AU15: down
    from the mouth corners), ``chin`` (AU17), ``dimple`` (AU14) and ``mouth``
    (AU25/26: the lips parting). Lateral folds have ``:R`` (image left) and
    ``:L`` (image right) halves.
    """
    h, w = CANVAS
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, _ = face.center
    brow_y = face.eye_y - face.brow_y
    ew, eh = face.eye_size

    def segment(x0, y0, x1, y1, width=0.7):
        # A soft line from (x0, y0) to (x1, y1).
        dx, dy = x1 - x0, y1 - y0
        u = np.clip(((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(xx - x0 - u * dx, yy - y0 - u * dy)
        return _soft(d - width / 2, 0.4)

    out = {
        "furrows": np.maximum(segment(cx - 2.5, brow_y - 7, cx - 1.8, brow_y + 3),
                              segment(cx + 2.5, brow_y - 7, cx + 1.8, brow_y + 3)),
        "chin": _soft((np.hypot((xx - cx) / 6.0, (yy - face.mouth_y - 11) / 3.0) - 1) * 3.0, 0.8) * 0.6,
        "mouth": _soft((np.hypot((xx - cx) / (face.mouth_w * 0.8), (yy - face.mouth_y - 0.5) / 1.6) - 1) * 1.6,
                       0.5),
    }
    forehead = np.zeros_like(xx)
    for k, dy in enumerate((5.0, 9.0, 13.0)):
        centre = brow_y - face.brow_arch - dy + 3 * ((xx - cx) / 22) ** 2
        line = _soft(np.abs(yy - centre) - 0.35, 0.4) * _soft(np.abs(xx - cx) - 20 + 3 * k, 1.5)
        forehead = np.maximum(forehead, line)
    out["forehead"] = forehead
    for key, sign in (("R", -1), ("L", 1)):
        ex = cx + sign * face.eye_dx
        corner_x = cx + sign * face.mouth_w
        out[f"nasolabial:{key}"] = np.maximum(
            segment(cx + sign * 6, face.nose_y - 1, corner_x + sign * 3, face.mouth_y - 1, 0.9),
            segment(corner_x + sign * 3, face.mouth_y - 1, corner_x + sign * 3.5, face.mouth_y + 4, 0.9))
        feet = [segment(ex + sign * (ew + 1), face.eye_y + o, ex + sign * (ew + 6), face.eye_y + 2.5 * o, 0.6)
                for o in (-1.5, 0.0, 1.5)]
        out[f"crowsfeet:{key}"] = np.maximum.reduce(feet)
        out[f"marionette:{key}"] = segment(corner_x + sign * 1, face.mouth_y + 1, corner_x + sign * 2,
                                           face.mouth_y + 9, 0.8)
        out[f"dimple:{key}"] = _soft(np.hypot(xx - corner_x - sign * 3, yy - face.mouth_y) - 1.3, 0.5)
    return {k: v.astype(np.float32) for k, v in out.items()}


def intensity(t, rise, fall):
    """Action intensity in [0, 1] at time ``t`` (s) after onset: smooth rise to apex, then back.

    ``sin^2`` from onset to apex (``rise`` s), ``cos^2`` from apex to offset
    (``fall`` s), zero outside.
    """
    t = np.asarray(t, dtype=np.float64)
    up = np.sin(0.5 * np.pi * np.clip(t / rise, 0, 1)) ** 2
    down = np.cos(0.5 * np.pi * np.clip((t - rise) / fall, 0, 1)) ** 2
    return np.where(t < 0, 0.0, np.where(t < rise, up, np.where(t < rise + fall, down, 0.0)))


def compose_face(face, camera):
    """The neutral face as ``camera`` sees its materials: a float32 canvas in [0, 1]."""
    h, w = CANVAS
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = face.center
    ax, ay = face.axes

    head = _soft((np.hypot((xx - cx) / ax, (yy - cy) / ay) - 1) * min(ax, ay), 1.0)
    shading = 1 - 0.35 * np.clip(((xx - cx) / ax) ** 2 + 0.5 * ((yy - cy) / ay) ** 2, 0, 1.5)
    skin = camera.skin * face.tone * shading * (1 + camera.texture * face.texture)

    hairline = face.hairline + 14 * ((xx - cx) / ax) ** 2
    hair = _soft(yy - hairline, 1.2) * np.clip(head + 0.6, 0, 1)
    hair_tone = 0.12 + 0.05 * face.hair + (0.15 if camera.name == "smic_nir" else 0.0)

    img = face.background * (1 - head) + skin * head
    img = img * (1 - hair) + hair_tone * hair

    brow_y = face.eye_y - face.brow_y
    brows = np.zeros_like(xx)
    for sign in (-1, 1):
        bx = cx + sign * face.eye_dx
        u = (xx - bx) / face.brow_len
        centre = brow_y - face.brow_arch * (1 - u ** 2) + sign * 0.8 * u  # inner ends lower
        brows = np.maximum(brows, _soft(np.abs(yy - centre) - face.brow_thick / 2, 0.6)
                           * _soft(np.abs(xx - bx) - face.brow_len, 0.8))
    img = img * (1 - camera.brows * brows * (0.85 + 0.15 * face.hair))

    ew, eh = face.eye_size
    for sign in (-1, 1):
        ex = cx + sign * face.eye_dx
        eye = _soft((np.hypot((xx - ex) / ew, (yy - face.eye_y) / eh) - 1) * eh, 0.5)
        iris = _soft(np.hypot(xx - ex, yy - face.eye_y) - eh * 1.05, 0.5) * eye
        lid = _soft(np.abs(yy - (face.eye_y - eh * (1 - ((xx - ex) / ew) ** 2))) - 0.6, 0.4) * \
            _soft(np.abs(xx - ex) - ew, 0.5)
        img = img * (1 - eye) + eye * (camera.sclera * (1 - iris) + camera.iris * iris)
        img = img * (1 - 0.5 * lid)

    for sign in (-1, 1):
        nostril = _soft((np.hypot((xx - cx - sign * 3.5) / 2.2, (yy - face.nose_y) / 1.3) - 1) * 1.3, 0.5)
        img = img * (1 - 0.45 * nostril)
    ridge = np.exp(-((xx - cx - 3.0) ** 2) / 4.0) * _soft(np.abs(yy - (face.eye_y + face.nose_y) / 2)
                                                          - (face.nose_y - face.eye_y) / 2, 2.0)
    img = img * (1 - 0.12 * ridge)

    mx, my = cx, face.mouth_y
    lips = _soft((np.hypot((xx - mx) / face.mouth_w, (yy - my) / face.lip_h) - 1) * face.lip_h, 0.6)
    slit_y = my - face.smile * ((xx - mx) / face.mouth_w) ** 2
    slit = _soft(np.abs(yy - slit_y) - 0.5, 0.45) * _soft(np.abs(xx - mx) - face.mouth_w, 0.6)
    img = img * (1 - camera.lips * lips) * (1 - 0.6 * slit)
    return np.clip(img, 0, 1).astype(np.float32)


def render_clip(face, event, camera, times, rng):
    """Film ``event`` on ``face`` with ``camera`` at the given times.

    Parameters
    ----------
    face : Face
    event : Event
    camera : Camera
    times : array-like of float
        Frame times in seconds relative to the onset.
    rng : numpy.random.Generator
        Source of this camera's noise, flicker and light (not of the event).

    Returns
    -------
    numpy.ndarray
        Grey volume (T, H, W), uint8.
    """
    import cv2

    ch, cw = CANVAS
    oh, ow = camera.size
    base = compose_face(face, camera)
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float64)
    cx, cy = face.center
    dx, dy, scale, angle = event.pose
    cos, sin = np.cos(angle), np.sin(angle)

    gy, gx = np.mgrid[0:oh, 0:ow].astype(np.float64)
    gy, gx = gy / oh - 0.5, gx / ow - 0.5
    direction = rng.uniform(0, 2 * np.pi)
    light = 1 + camera.illumination * (np.cos(direction) * gx + np.sin(direction) * gy) * 2
    light *= 1 - camera.vignetting * (gx ** 2 + gy ** 2) * 2
    gain = 1 + rng.uniform(-0.05, 0.05)

    layers = fold_layers(face)
    folds = np.zeros(CANVAS, dtype=np.float32)
    for name, weight in event.wrinkles:
        folds += np.float32(weight) * layers[name]
    folds *= np.float32(FOLD_DEPTH * camera.folds)

    volume = np.empty((len(times), oh, ow), dtype=np.uint8)
    level = intensity(times, event.rise, event.fall)
    for i, t in enumerate(times):
        jx = event.drift[0] * t + np.sum(event.jitter[:, 0] * np.sin(2 * np.pi * event.jitter[:, 2] * t
                                                                     + event.jitter[:, 3]))
        jy = event.drift[1] * t + np.sum(event.jitter[:, 1] * np.cos(2 * np.pi * event.jitter[:, 2] * t
                                                                     + event.jitter[:, 3]))
        # Inverse of the head pose p = c + s R (q - c) + d + j: canvas pixel -> face point.
        px = (xx - cw / 2) / camera.zoom + cw / 2 + camera.shift[0] - cx - dx - jx
        py = (yy - ch / 2) / camera.zoom + ch / 2 + camera.shift[1] - cy - dy - jy
        qx = cx + (cos * px + sin * py) / scale
        qy = cy + (-sin * px + cos * py) / scale
        mapx, mapy = qx.copy(), qy.copy()
        if level[i] > 0:
            for ax_, ay_, vx, vy, sigma in event.actions:
                bump = level[i] * np.exp(-((qx - ax_) ** 2 + (qy - ay_) ** 2) / (2 * sigma ** 2))
                mapx -= vx * bump
                mapy -= vy * bump
        source = base * (1 - np.float32(level[i]) * folds) if level[i] > 0 else base
        frame = cv2.remap(source, mapx.astype(np.float32), mapy.astype(np.float32), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        frame = cv2.resize(frame, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float64)
        if camera.blur > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), camera.blur)
        frame = frame * light * gain * (1 + camera.flicker * rng.standard_normal())
        frame = camera.brightness + camera.contrast * (np.clip(frame, 0, 1) ** camera.gamma - 0.5)
        frame = frame * 255 + camera.noise * rng.standard_normal(frame.shape)
        volume[i] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return volume


def generate_clip(face, emotion, camera, rng, n_frames=None, pad=0):
    """Draw and film one micro-expression.

    Parameters
    ----------
    face : Face
    emotion : str
        See :func:`draw_event`.
    camera : Camera
    rng : numpy.random.Generator
    n_frames : int, optional
        Clip length. Default: onset to offset exactly, plus ``pad`` neutral
        frames on each side. Otherwise the micro-expression is placed at a
        random position inside the clip.
    pad : int
        Neutral frames before onset and after offset when ``n_frames`` is None.

    Returns
    -------
    SyntheticClip
    """
    event = draw_event(emotion, face, rng)
    times, onset = _frame_times(event, camera.fps, n_frames, pad, rng)
    return _film(face, event, camera, times, onset, rng)


def write_synthetic_databases(root, seed=0, size="small", overwrite=False):
    """Write a SYNTHETIC CASME II-like and a SYNTHETIC SMIC-like database under ``root``.

    Creates::

        root/CASME2/README.txt
        root/CASME2/CASME2-coding-synthetic.xlsx
        root/CASME2/Cropped/sub01/EP02_01f/reg_img46.png ...
        root/SMIC/README.txt
        root/SMIC/VIS/s1/micro/negative/s1_ne_01/image000123.png ...
        root/SMIC/NIR/...          (the same events, filmed by the NIR-like camera)

    Parameters
    ----------
    root : str or Path
    seed : int
        Everything drawn follows from it: the same seed gives the same bytes.
    size : {"tiny", "small"}
        ``"tiny"`` for tests (a dozen clips per database), ``"small"`` for the
        demo (about 50 clips per database).
    overwrite : bool
        Replace ``root/CASME2`` and ``root/SMIC`` when they exist and were
        written by this generator. Folders without the synthetic marker are
        never removed.

    Returns
    -------
    dict of str to Path
        ``CASME2``, ``SMIC`` (the folder with ``VIS`` and ``NIR``),
        ``SMIC_VIS``, ``SMIC_NIR``.
    """
    if size not in SIZES:
        raise InputError(f"unknown size {size!r}: expected one of {', '.join(SIZES)}", field="size")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    spec = SIZES[size]
    cams = {k: c.scaled(spec["resolution"], spec["fps"]) for k, c in CAMERAS.items()}
    targets = {"CASME2": root / "CASME2", "SMIC": root / "SMIC"}
    for path in targets.values():
        if path.exists():
            if not overwrite:
                raise InputError("already exists: pass overwrite=True to replace a synthetic database",
                                 path=path)
            if not (path / "README.txt").is_file() or not (path / "README.txt").read_text(
                    encoding="utf-8", errors="replace").startswith(SYNTHETIC_MARKER):
                raise InputError("exists and was not written by cdmer.io.synthetic; not replaced", path=path)
    for name, path in targets.items():
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            if name == "CASME2":
                _write_casme2(tmp, seed, spec, cams["casme2"])
            else:
                _write_smic(tmp, seed, spec, {"VIS": cams["smic_vis"], "NIR": cams["smic_nir"]})
            if path.exists():
                shutil.rmtree(path)
            tmp.chmod(0o755)
            tmp.rename(path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return {"CASME2": targets["CASME2"], "SMIC": targets["SMIC"],
            "SMIC_VIS": targets["SMIC"] / "VIS", "SMIC_NIR": targets["SMIC"] / "NIR"}


# --------------------------------------------------------------------------- writers

_README = """SYNTHETIC micro-expression database -- NOT REAL DATA.

Written by cdmer.io.synthetic (cdmer {version}), seed {seed}, size "{size}".
Procedurally drawn grey cartoon faces with brief simulated facial actions,
filmed by simulated cameras, laid out like {layout} so that the cdmer loaders
and feature extractors can be run end to end. Recognition numbers measured on
it say nothing about real micro-expressions.

{details}
"""


def _cast(seed, stream, counts, n_subjects):
    """Faces of the subjects, and each clip's class and subject in shuffled order (seeded by ``stream``)."""
    rng = np.random.default_rng([seed, stream])
    faces = [draw_face(np.random.default_rng([seed, stream, 1000 + s])) for s in range(n_subjects)]
    classes = [c for c, n in counts.items() for _ in range(n)]
    classes = [classes[i] for i in rng.permutation(len(classes))]
    subjects = [i % n_subjects for i in range(len(classes))]
    subjects = [subjects[i] for i in rng.permutation(len(subjects))]
    return faces, classes, subjects


def _write_casme2(folder, seed, spec, camera):
    import cv2

    counts = spec["casme2_counts"]
    n_subjects = spec["casme2_subjects"]
    faces, emotions, subjects = _cast(seed, 1, counts, n_subjects)
    episode = {}
    rows = []
    for k, (emotion, s) in enumerate(zip(emotions, subjects)):
        crng = np.random.default_rng([seed, 1, k])
        episode[s] = episode.get(s, 1) + int(crng.integers(1, 3))
        name = f"EP{episode[s]:02d}_{int(crng.integers(1, 10)):02d}{'f' if crng.random() < 0.4 else ''}"
        clip = generate_clip(faces[s], emotion, camera, crng, pad=2)
        start = int(crng.integers(1, 200))
        clip_dir = folder / "Cropped" / f"sub{s + 1:02d}" / name
        clip_dir.mkdir(parents=True)
        for i, frame in enumerate(clip.volume):
            cv2.imwrite(str(clip_dir / f"reg_img{start + i}.png"), frame)
        rows.append((s + 1, name, start + clip.onset, start + clip.apex, start + clip.offset,
                     clip.event.action_units, emotion))
    rows.sort(key=lambda r: (r[0], r[1]))
    header = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
              "Estimated Emotion")
    details = (f"Camera: {_describe(camera)}.\nClips per emotion: "
               + ", ".join(f"{e} {n}" for e, n in counts.items())
               + f"; {n_subjects} subjects.\nFrames: Cropped/sub<NN>/<Filename>/reg_img<N>.png, two neutral "
               "frames before OnsetFrame and after OffsetFrame.")
    text = _readme(seed, spec, "CASME II (coding sheet + Cropped/ frame folders)", details)
    (folder / "README.txt").write_text(text, encoding="utf-8")
    _write_sheet(folder / "CASME2-coding-synthetic.xlsx", header, rows, text)


def _write_smic(folder, seed, spec, cameras):
    import cv2

    counts = spec["smic_counts"]
    n_subjects = spec["smic_subjects"]
    faces, labels, subjects = _cast(seed, 2, counts, n_subjects)
    abbr = {"negative": "ne", "positive": "po", "surprise": "sur"}
    numbers = {}
    lo, hi = spec["smic_pad"]
    fps = {c.fps for c in cameras.values()}
    if len(fps) != 1:
        raise ValueError("the SMIC cameras film the same events: they need one frame rate")
    fps = fps.pop()
    for k, (label, s) in enumerate(zip(labels, subjects)):
        erng = np.random.default_rng([seed, 2, k])
        event = draw_event(label, faces[s], erng)
        span = int(np.floor(event.duration * fps)) + 1
        times, _ = _frame_times(event, fps, span + int(erng.integers(lo, hi + 1)), 0, erng)
        numbers[(s, label)] = numbers.get((s, label), 0) + 1
        subject = f"s{s + 1}"
        name = f"{subject}_{abbr[label]}_{numbers[(s, label)]:02d}"
        start = int(erng.integers(1000, 900000))
        for m, (modality, camera) in enumerate(cameras.items()):
            volume = render_clip(faces[s], event, camera, times, np.random.default_rng([seed, 2, k, m]))
            clip_dir = folder / modality / subject / "micro" / label / name
            clip_dir.mkdir(parents=True)
            for i, frame in enumerate(volume):
                cv2.imwrite(str(clip_dir / f"image{start + i:06d}.png"), frame)
    details = "\n".join(f"{m} camera: {_describe(c)}." for m, c in cameras.items())
    details += ("\nBoth cameras film the same events. Clips per class: "
                + ", ".join(f"{c} {n}" for c, n in counts.items()) + f"; {n_subjects} subjects.")
    text = _readme(seed, spec, "SMIC_all_cropped (<VIS|NIR>/s<N>/micro/<class>/<clip>/)", details)
    (folder / "README.txt").write_text(text, encoding="utf-8")
    for modality in cameras:
        (folder / modality / "README.txt").write_text(text, encoding="utf-8")


def _frame_times(event, fps, n_frames, pad, rng):
    """Frame times (s, relative to onset) and the onset frame index."""
    span = int(np.floor(event.duration * fps)) + 1  # frames from onset to offset
    if n_frames is None:
        onset = pad
        n_frames = span + 2 * pad
    else:
        n_frames = max(int(n_frames), span)
        onset = int(rng.integers(0, n_frames - span + 1))
    return (np.arange(n_frames) - onset) / fps, onset


def _film(face, event, camera, times, onset, rng):
    volume = render_clip(face, event, camera, times, rng)
    span = int(np.floor(event.duration * camera.fps)) + 1
    apex = onset + int(round(event.rise * camera.fps))
    return SyntheticClip(volume=volume, onset=onset, apex=apex, offset=onset + span - 1, event=event)


def _readme(seed, spec, layout, details):
    from cdmer import __version__

    size = next(k for k, v in SIZES.items() if v is spec)
    return _README.format(version=__version__, seed=seed, size=size, layout=layout, details=details)


def _describe(camera):
    return (f"{camera.fps:g} fps, {camera.size[0]}x{camera.size[1]} px, noise {camera.noise:g} grey levels, "
            f"blur {camera.blur:g} px, light gradient {camera.illumination:g}, gamma {camera.gamma:g}")


def _write_sheet(path, header, rows, readme):
    """Write the coding sheet with fixed time stamps, so that its bytes follow from its content."""
    import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    notes = wb.create_sheet("README")
    for line in readme.splitlines():
        notes.append([line])
    fixed = datetime.datetime(2017, 10, 23, 0, 0, 0)
    wb.properties.title = "SYNTHETIC CASME II-like coding sheet (not real data)"
    wb.properties.creator = "cdmer.io.synthetic"
    wb.properties.created = fixed
    buffer = io.BytesIO()
    wb.save(buffer)
    stamp = fixed.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)


def _soft(distance, width):
    """Smooth inside indicator: 1 where ``distance`` << 0, 0 where >> 0 (logistic, ``width`` px)."""
    return 0.5 * (1 - np.tanh(distance / (2 * width)))


def _smooth_noise(rng, shape, sigma):
    """Gaussian noise low-passed at ``sigma`` pixels, rescaled to unit standard deviation."""
    import cv2

    noise = cv2.GaussianBlur(rng.standard_normal(shape), (0, 0), sigma)
    return noise / noise.std()
