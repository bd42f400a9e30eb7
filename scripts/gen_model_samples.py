"""Generates the validation and calibration samples of the zoo's models (models/<name>/{calib,val}/).

Run through scripts/gen-model-samples.ts, which downloads the two source wheels and calls this file
with the "tf" environment's Python (numpy, Pillow, onnxruntime). Everything is deterministic: fixed
seeds, pinned source files (their sha256 is checked), Pillow's built-in font.

Material, all from registry packages or made here:
- photos shipped in scikit-image 0.25.2 (`skimage/data/`): astronaut.png (NASA, public domain),
  camera.png (CC0, Lav Varshney), coffee.png (CC0, Rachel Michetti), chelsea.png (CC0, Stefan van
  der Walt), rocket.jpg (SpaceX, public domain), brick.png, grass.png, gravel.png (CC0 textures);
- text rendered with Pillow's built-in font (OCR models);
- speech synthesised with espeak-ng (Debian package), mixed with silence, noise and tones (VAD);
- silero-vad 6.2.3's own model, run here to record the recurrent state a real stream carries.
Calibration and validation samples come from disjoint crops or disjoint utterances.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import wave
import zipfile

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

SKIMAGE_FILES = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "brick.png": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    "grass.png": "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    "gravel.png": "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
}
SILERO_FILE = (
    "silero_vad/data/silero_vad_openvino_16k.onnx",
    "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87",
)

# Where the faces are in the two portraits (x0, y0, x1, y1), found by eye: the skin area from
# eyebrows to chin.
FACE_BOXES = {"astronaut.png": (168, 62, 282, 190), "camera.png": (178, 95, 258, 195)}
SCENES = ["coffee.png", "chelsea.png", "rocket.jpg", "brick.png", "grass.png", "gravel.png"]

WORDS = [
    "edge",
    "model",
    "zoo",
    "convert",
    "validate",
    "tensor",
    "layout",
    "quantize",
    "calibrate",
    "runtime",
    "export",
    "graph",
    "invoice",
    "total",
    "amount",
    "date",
    "order",
    "number",
    "street",
    "city",
    "phone",
    "email",
    "price",
    "qty",
    "item",
    "code",
    "name",
    "address",
    "account",
    "balance",
    "report",
    "page",
    "chapter",
    "section",
    "table",
    "figure",
    "summary",
    "note",
    "OpenVINO",
    "LiteRT",
    "ONNX",
    "2026",
    "12.50",
    "0.75",
    "#4711",
    "A-17",
    "km/h",
    "100%",
    "(c)",
    "ISBN",
    "Tel:",
    "Fax:",
    "No.",
    "Ref",
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_wheel_file(wheel: str, member: str, expected: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
    if sha256(data) != expected:
        raise SystemExit(f"{wheel}:{member}: sha256 {sha256(data)}, expected {expected}")
    return data


def load_photos(wheel: str) -> dict[str, Image.Image]:
    return {
        name: Image.open(io.BytesIO(read_wheel_file(wheel, f"skimage/data/{name}", digest))).convert("RGB")
        for name, digest in SKIMAGE_FILES.items()
    }


def fresh_dir(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def save_png(image: Image.Image, path: str) -> None:
    # No timestamps or text chunks: same pixels, same bytes (for one zlib version).
    image.save(path, format="PNG", optimize=True)


def jitter_colours(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))


def face_crop(photos, rng, size: int, margin: tuple[float, float], shift: float, rotate: float) -> Image.Image:
    """A square crop around one of the faces: side = face size x uniform(margin), centre moved by
    up to `shift` face sizes, rotated by up to `rotate` degrees, maybe mirrored, colours jittered."""
    name = "astronaut.png" if rng.random() < 0.7 else "camera.png"
    photo = photos[name]
    x0, y0, x1, y1 = FACE_BOXES[name]
    face = max(x1 - x0, y1 - y0)
    side = face * rng.uniform(*margin)
    cx = (x0 + x1) / 2 + rng.uniform(-shift, shift) * face
    cy = (y0 + y1) / 2 + rng.uniform(-shift, shift) * face
    angle = rng.uniform(-rotate, rotate)
    # Rotate around the face centre on a canvas with black borders (mediapipe pads with zeros).
    rotated = photo.rotate(angle, resample=Image.BILINEAR, center=(cx, cy))
    box = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
    crop = rotated.crop(box).resize((size, size), Image.BILINEAR)
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    return jitter_colours(crop, rng)


def scene_crop(photos, rng, width: int, height: int, names=SCENES) -> Image.Image:
    """A crop of a photo without a face, of a random size and place, resized to width x height."""
    photo = photos[names[int(rng.integers(len(names)))]]
    w, h = photo.size
    scale = rng.uniform(0.3, 1.0)
    cw = min(w, int(min(w, h * width / height) * scale))
    ch = max(1, int(cw * height / width))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, max(1, h - ch + 1)))
    crop = photo.crop((x, y, x + cw, y + ch)).resize((width, height), Image.BILINEAR)
    return jitter_colours(crop, rng)


def save_jpeg(image: Image.Image, path: str) -> None:
    # Photos at full chroma and high quality: a quarter of the PNG's size, and what cameras give.
    image.save(path, format="JPEG", quality=92, subsampling=0)


def write_image_sets(out: str, make, calib: int, val: int, seed: int, jpeg: bool = False) -> None:
    """models/<name>/calib/NNN.png and val/NNN.png (.jpg for photos); the two sets use different
    random streams so no crop is shared."""
    for kind, count, offset in (("calib", calib, 0), ("val", val, 1)):
        folder = fresh_dir(os.path.join(out, kind))
        rng = np.random.default_rng([seed, offset])
        for i in range(count):
            image = make(rng, i)
            if jpeg:
                save_jpeg(image, os.path.join(folder, f"{i:03d}.jpg"))
            else:
                save_png(image, os.path.join(folder, f"{i:03d}.png"))


# --- models ---------------------------------------------------------------------------------


def mediapipe_face_detection(out, photos):
    """BlazeFace short range: 128x128 RGB; faces filling 30-90% of the frame (its working range),
    and one in four images a scene without a face."""

    def make(rng, i):
        if i % 4 == 3:
            return scene_crop(photos, rng, 128, 128)
        return face_crop(photos, rng, 128, margin=(1.3, 3.0), shift=0.3, rotate=20)

    write_image_sets(out, make, calib=32, val=16, seed=1, jpeg=True)


def mediapipe_face_landmark(out, photos):
    """Face mesh: 192x192 RGB crops around a face with a 25-50% margin, like the crop MediaPipe
    takes from the detector's box, rotated a little."""

    def make(rng, i):
        return face_crop(photos, rng, 192, margin=(1.25, 1.6), shift=0.08, rotate=15)

    write_image_sets(out, make, calib=32, val=16, seed=2, jpeg=True)


def mtcnn_onet(out, photos):
    """ONet: 48x48 RGB candidate boxes, as RNet hands them on: mostly faces (tight to loose), some
    non-faces."""

    def make(rng, i):
        if i % 3 == 2:
            return scene_crop(photos, rng, 48, 48)
        return face_crop(photos, rng, 48, margin=(0.9, 1.4), shift=0.12, rotate=10)

    write_image_sets(out, make, calib=64, val=32, seed=3)


def mtcnn_pnet(out, photos):
    """PNet: whole 120x160 (HxW) frames, the first level of MTCNN's image pyramid: portraits at
    several scales and scenes."""

    def make(rng, i):
        if i % 3 == 2:
            return scene_crop(photos, rng, 160, 120)
        name = "astronaut.png" if i % 2 == 0 else "camera.png"
        photo = photos[name]
        w, h = photo.size
        scale = rng.uniform(0.45, 1.0)
        cw, ch = int(w * scale), int(w * scale * 0.75)
        x = int(rng.integers(0, w - cw + 1))
        y = int(rng.integers(0, max(1, h - ch + 1)))
        crop = photo.crop((x, y, x + cw, y + ch)).resize((160, 120), Image.BILINEAR)
        return jitter_colours(crop, rng)

    write_image_sets(out, make, calib=32, val=16, seed=4, jpeg=True)


def text_line(rng, words=None, size=None) -> Image.Image:
    """One line of dark-on-light (or light-on-dark) text, cropped to its box with a small border."""
    font = ImageFont.load_default(size=size or int(rng.integers(22, 40)))
    text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 6)))) if words is None else words
    dark = rng.random() < 0.8
    ink = tuple(int(v) for v in rng.integers(0, 90, 3)) if dark else tuple(int(v) for v in rng.integers(190, 256, 3))
    paper = tuple(int(v) for v in rng.integers(180, 256, 3)) if dark else tuple(int(v) for v in rng.integers(0, 80, 3))
    left, top, right, bottom = font.getbbox(text)
    pad = int(rng.integers(2, 8))
    image = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), paper)
    ImageDraw.Draw(image).text(
        (pad - left, pad - top), text, font=font, fill=ink, stroke_width=int(rng.integers(0, 2)), stroke_fill=ink
    )
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return image


def ppocr_text_orientation(out, photos):
    """Text-line orientation: 48x192 crops as RapidOCR feeds them (height 48, width by aspect
    ratio up to 192, right side padded with mid-grey, which normalises to 0); every other line
    upside down (class '180')."""

    def make(rng, i):
        line = text_line(rng)
        if i % 2 == 1:
            line = line.rotate(180)
        w, h = line.size
        width = min(192, int(np.ceil(48 * w / h)))
        canvas = Image.new("RGB", (192, 48), (128, 128, 128))
        canvas.paste(line.resize((width, 48), Image.BILINEAR), (0, 0))
        return canvas

    write_image_sets(out, make, calib=64, val=32, seed=5)


def ppocr_text_detection(out, photos):
    """Text detection: 640x640 pages: lines of text at several sizes and angles on paper, on
    photos and on textures."""

    def make(rng, i):
        if i % 3 == 0:
            page = Image.new("RGB", (640, 640), tuple(int(v) for v in rng.integers(215, 256, 3)))
        else:
            # Smooth photos only: gravel and grass would triple the JPEG sizes.
            page = scene_crop(photos, rng, 640, 640, names=["coffee.png", "chelsea.png", "rocket.jpg", "brick.png"])
        for _ in range(int(rng.integers(4, 12))):
            line = text_line(rng, size=int(rng.integers(16, 48)))
            if rng.random() < 0.3:
                line = line.rotate(rng.uniform(-20, 20), expand=True, fillcolor=line.getpixel((0, 0)))
            if line.width > 600:
                line = line.resize((600, max(1, line.height * 600 // line.width)), Image.BILINEAR)
            x = int(rng.integers(0, 640 - line.width + 1))
            y = int(rng.integers(0, 640 - line.height + 1))
            page.paste(line, (x, y))
        return page

    write_image_sets(out, make, calib=16, val=8, seed=6, jpeg=True)


# --- audio ----------------------------------------------------------------------------------

SENTENCES = [
    ("en-us", "The quick brown fox jumps over the lazy dog near the river bank."),
    ("en-gb", "Please convert this model for the phone and check that its outputs still match."),
    ("de", "Guten Morgen, heute testen wir die Erkennung von Sprache in kurzen Abschnitten."),
    ("fr", "Le petit modèle tourne sur un téléphone sans connexion au réseau."),
    ("en-us", "Seven hundred and twenty three samples were recorded on Tuesday afternoon."),
    ("es", "El sistema detecta la voz y descarta el ruido de fondo con precisión."),
    ("en-gb", "Quantised weights make the download four times smaller than before."),
    ("it", "Questa frase serve soltanto a provare il rilevatore di voce."),
]
SAMPLE_RATE = 16000
CHUNK, CONTEXT = 512, 64


def speak(voice: str, text: str, speed: int) -> np.ndarray:
    """espeak-ng's speech as float32 mono at 16 kHz (it writes 22.05 kHz; linear resampling is
    enough for a detector's test material)."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", path, text], check=True)
        with wave.open(path) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    t = np.arange(int(len(pcm) * SAMPLE_RATE / rate)) * rate / SAMPLE_RATE
    return np.interp(t, np.arange(len(pcm)), pcm).astype(np.float32)


def clip_for(index: int, rng: np.random.Generator) -> np.ndarray:
    """Silence and background noise, then speech (quiet to loud, with noise under it), then tones
    or noise without speech."""
    voice, text = SENTENCES[index % len(SENTENCES)]
    speech = speak(voice, text, speed=int(rng.integers(130, 190))) * rng.uniform(0.2, 0.9)
    lead = rng.normal(0, rng.uniform(0.001, 0.02), int(SAMPLE_RATE * rng.uniform(0.5, 1.2)))
    t = np.arange(int(SAMPLE_RATE * rng.uniform(0.8, 1.5))) / SAMPLE_RATE
    tone = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 1200) * t) if index % 2 == 0 else rng.normal(0, 0.05, len(t))
    body = speech + rng.normal(0, rng.uniform(0.0, 0.01), len(speech))
    return np.clip(np.concatenate([lead, body, tone]), -1, 1).astype(np.float32)


def silero_vad(out, silero_wheel):
    """Silero VAD (16 kHz, one 512-sample chunk with 64 samples of context): runs the package's
    model over whole clips as silero_vad's OnnxWrapper does, and keeps a spread of chunks with
    the state the stream had before them, so quantisation and validation see real states."""
    import onnxruntime as ort

    model = read_wheel_file(silero_wheel, *SILERO_FILE)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for kind, clips, offset, count in (("calib", range(0, 5), 0, 64), ("val", range(5, 8), 1, 32)):
        folder = fresh_dir(os.path.join(out, kind))
        rng = np.random.default_rng([7, offset])
        chunks = []
        for index in clips:
            audio = clip_for(index, rng)
            state = np.zeros((2, 1, 128), np.float32)
            context = np.zeros((1, CONTEXT), np.float32)
            for start in range(0, len(audio) - CHUNK + 1, CHUNK):
                x = np.concatenate([context, audio[None, start : start + CHUNK]], axis=1)
                chunks.append((x, state))
                _prob, state = session.run(None, {"input": x, "state": state})
                context = x[:, -CONTEXT:]
        picks = np.linspace(0, len(chunks) - 1, count).round().astype(int)
        for i, pick in enumerate(picks):
            x, state = chunks[pick]
            np.save(os.path.join(folder, f"{i:03d}.input.npy"), x.astype(np.float32))
            np.save(os.path.join(folder, f"{i:03d}.state.npy"), state.astype(np.float32))


IMAGE_MODELS = {
    "mediapipe-face-detection": mediapipe_face_detection,
    "mediapipe-face-landmark": mediapipe_face_landmark,
    "mtcnn-onet": mtcnn_onet,
    "mtcnn-pnet": mtcnn_pnet,
    "ppocr-text-orientation": ppocr_text_orientation,
    "ppocr-v4-text-detection": ppocr_text_detection,
}
ALL_MODELS = [*IMAGE_MODELS, "silero-vad"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="project root (models/ is written under it)")
    parser.add_argument("--skimage-wheel", required=True)
    parser.add_argument("--silero-wheel", required=True)
    parser.add_argument("--only", action="append", choices=ALL_MODELS, help="models to regenerate (default: all)")
    args = parser.parse_args()
    photos = load_photos(args.skimage_wheel)
    for name in args.only or ALL_MODELS:
        out = os.path.join(args.root, "models", name)
        os.makedirs(out, exist_ok=True)
        if name == "silero-vad":
            silero_vad(out, args.silero_wheel)
        else:
            IMAGE_MODELS[name](out, photos)
        print(name, flush=True)


if __name__ == "__main__":
    main()
