"""Make every sample file in tests/data/ (see README.md beside this script).

    .venv/bin/python tests/data/make.py

The pictures are drawn here (gradients, shapes, noise from fixed seeds) and the
video is synthetic, so no real photograph and no real person is involved;
every name and identifier is made up. The DICOM objects are made by tools
other than photopacs, so the suite tests photopacs against someone else's
idea of these objects: dcmtk's ``img2dcm`` wraps the JPEG files, pydicom
builds the video object. Each DICOM object must pass ``dciodvfy -new``
(dicom3tools) without errors, or this script fails.

Needs the project's virtualenv (numpy, Pillow, PyAV, pydicom) and the Debian
packages dcmtk (``img2dcm``) and dicom3tools (``dciodvfy``).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFilter
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence

HERE = Path(__file__).resolve().parent

# One synthetic patient, one study; photos in series 1, the video in series 2.
PATIENT = {
    "PatientName": "Corpus^Sample",
    "PatientID": "CORPUS0001",
    "PatientBirthDate": "19700101",
    "PatientSex": "O",
}
STUDY = {
    "StudyDate": "20240101",
    "StudyTime": "120000",
    "AccessionNumber": "CORPUSACC1",
    "StudyID": "1",
    "StudyDescription": "Sample photographs",
    "ReferringPhysicianName": "",
}
MANUFACTURER = "photopacs tests/data/make.py"

# (name, width, height, target size in bytes); the photos are 4:2:2 baseline JPEG.
PHOTOS = [
    ("rose", 1024, 673, 93_000),
    ("wizard", 480, 640, 100_000),
    ("logo", 640, 480, 92_000),
    ("plasma", 800, 600, 97_000),
    ("tiny", 48, 32, 1_000),
]
VIDEO = "testsrc_640x480_2s.mp4"
VIDEO_SIZE = (640, 480)
VIDEO_RATE = 25
VIDEO_FRAMES = 50
H264_HP41 = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264 High Profile / Level 4.1
VIDEO_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4.1"


def uid(name: str) -> str:
    """A fixed UID for ``name`` (PS3.5 B.2: 2.25 and a UUID as an integer), so
    that making the files again gives the same identifiers."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'photopacs:tests/data/{name}').int}"


STUDY_UID = uid("study")
PHOTO_SERIES_UID = uid("series/1")
VIDEO_SERIES_UID = uid("series/2")


# ---------------------------------------------------------------- pictures


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return x / max(width - 1, 1), y / max(height - 1, 1)


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid scaled up smoothly."""
    coarse = rng.random((max(2, cells * height // width), cells))
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    return np.asarray(img, dtype=np.float64) / 255


def _grain(rgb: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Sensor-like grain: Gaussian noise of ``amount`` grey levels."""
    noisy = rgb.astype(np.float64) + rng.normal(0, amount, rgb.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def rose(width: int, height: int) -> np.ndarray:
    """A flower on a leafy background, drawn small and scaled up like a phone
    snapshot enlarged, with grain added at full size."""
    rng = np.random.default_rng(1)
    w, h = width // 4, height // 4
    x, y = _grid(w, h)
    leaves = _smooth_noise(rng, w, h, 12)
    base = np.stack([40 + 50 * leaves, 90 + 90 * leaves * (1 - y / 2), 40 + 30 * x], axis=-1)
    cx, cy = 0.5, 0.45
    dx, dy = (x - cx) * w / h, y - cy
    r = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    img = base
    for layer, (radius, turn, petals) in enumerate(
        [(0.36, 0.0, 5), (0.28, 0.6, 5), (0.2, 1.1, 4), (0.12, 0.3, 3)]
    ):
        edge = radius * (0.72 + 0.28 * np.abs(np.cos(petals * (theta + turn) / 2)))
        inside = r < edge
        shade = 1 - 0.55 * (r / edge) ** 2
        colour = np.stack(
            [150 + 100 * shade, 20 + 40 * shade * (layer / 3), 50 + 40 * shade], axis=-1
        )
        img = np.where(inside[..., None], colour, img)
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(small)
    draw.line([(w // 2, int(h * 0.8)), (w // 2 + 6, h)], fill=(30, 110, 40), width=4)
    big = small.resize((width, height), Image.Resampling.BICUBIC)
    return _grain(np.asarray(big), rng, 5.0)


def wizard(width: int, height: int) -> np.ndarray:
    """An illustration: a figure in a pointed hat and a starry robe under a
    night sky, on a painted (noisy) paper texture."""
    rng = np.random.default_rng(2)
    _, y = _grid(width, height)
    sky = np.stack([20 + 60 * y, 20 + 40 * y, 90 + 80 * (1 - y)], axis=-1)
    sky += 40 * (_smooth_noise(rng, width, height, 24)[..., None] - 0.5)
    img = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(160):
        sx, sy = rng.integers(0, width), rng.integers(0, height // 2)
        size = int(rng.integers(1, 4))
        draw.ellipse([sx - size, sy - size, sx + size, sy + size], fill=(255, 250, 200))
    draw.polygon([(90, 610), (390, 610), (300, 300), (180, 300)], fill=(70, 40, 140))  # robe
    draw.ellipse([185, 200, 295, 310], fill=(240, 200, 170))  # face
    draw.polygon([(240, 310), (200, 420), (280, 420)], fill=(235, 235, 235))  # beard
    draw.polygon([(170, 225), (310, 225), (260, 40)], fill=(60, 30, 130))  # hat
    draw.ellipse([150, 210, 330, 245], fill=(80, 50, 160))  # brim
    draw.line([(395, 620), (420, 260)], fill=(120, 80, 40), width=10)  # staff
    draw.ellipse([400, 225, 445, 270], fill=(120, 220, 255))
    for _ in range(40):
        sx, sy = int(rng.integers(120, 360)), int(rng.integers(330, 600))
        draw.regular_polygon((sx, sy, 7), 5, fill=(250, 220, 90))
    for ex in (220, 260):
        draw.ellipse([ex - 6, 245, ex + 6, 257], fill=(40, 40, 60))
    return _grain(np.asarray(img), rng, 7.0)


def logo(width: int, height: int) -> np.ndarray:
    """An illustration: rings, stripes and a checkerboard with soft shading."""
    rng = np.random.default_rng(3)
    x, y = _grid(width, height)
    stripes = (np.floor(x * 24 + y * 18) % 2)[..., None]
    img = np.where(stripes > 0, [235, 235, 225], [210, 225, 240]) * (0.8 + 0.2 * y[..., None])
    picture = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for i, colour in enumerate([(200, 30, 40), (250, 180, 20), (30, 140, 70), (20, 80, 180)]):
        r = 200 - 40 * i
        draw.ellipse([320 - r, 240 - r, 320 + r, 240 + r], outline=colour, width=22)
    for row in range(6):
        for col in range(6):
            if (row + col) % 2 == 0:
                draw.rectangle(
                    [20 + col * 16, 20 + row * 16, 36 + col * 16, 36 + row * 16], fill=(20, 20, 20)
                )
    draw.rounded_rectangle([440, 380, 620, 460], radius=18, fill=(90, 30, 120))
    draw.polygon([(520, 60), (600, 200), (440, 200)], fill=(240, 90, 30))
    soft = picture.filter(ImageFilter.GaussianBlur(1.2))
    return _grain(np.asarray(soft), rng, 6.0)


def plasma(width: int, height: int) -> np.ndarray:
    """A plasma-like fractal: octaves of value noise mapped to a colour cycle."""
    rng = np.random.default_rng(4)
    field = sum(
        _smooth_noise(rng, width, height, cells) / (i + 1)
        for i, cells in enumerate([4, 8, 16, 32, 64, 128, 256])
    )
    field = (field - field.min()) / (field.max() - field.min())
    turns = 2 * np.pi * 3 * field
    rgb = np.stack(
        [
            128 + 127 * np.sin(turns),
            128 + 127 * np.sin(turns + 2.1),
            128 + 127 * np.sin(turns + 4.2),
        ],
        axis=-1,
    )
    return _grain(rgb, rng, 2.0)


def tiny(width: int, height: int) -> np.ndarray:
    """A small gradient with a dot: the per-object overhead case."""
    x, y = _grid(width, height)
    rgb = np.stack([60 + 150 * x, 80 + 100 * y, 160 - 80 * x], axis=-1)
    dot = np.hypot((x - 0.5) * width, (y - 0.5) * height) < 8
    rgb[dot] = [230, 60, 50]
    return np.clip(rgb, 0, 255).astype(np.uint8)


DRAW = {"rose": rose, "wizard": wizard, "logo": logo, "plasma": plasma, "tiny": tiny}


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG, 4:2:2 chroma subsampling, JFIF header, no EXIF."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=1, optimize=False)
    return buf.getvalue()


def jpeg_near(rgb: np.ndarray, target: int) -> bytes:
    """The JPEG whose size is nearest ``target`` bytes over qualities 20-95."""
    return min((jpeg(rgb, q) for q in range(20, 96)), key=lambda data: abs(len(data) - target))


# ------------------------------------------------------------------- video


def _video_frame(index: int) -> np.ndarray:
    """A test pattern: colour bars, a grey ramp, a square that moves one step
    per frame, and the frame number as a row of binary blocks."""
    width, height = VIDEO_SIZE
    img = np.zeros((height, width, 3), np.uint8)
    bars = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0)]
    bars += [(192, 0, 192), (192, 0, 0), (0, 0, 192), (16, 16, 16)]
    bar = width // len(bars)
    for i, colour in enumerate(bars):
        img[: height * 2 // 3, i * bar : (i + 1) * bar] = colour
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    img[height * 2 // 3 : height * 5 // 6] = ramp[None, :, None]
    step = index * (width - 64) // (VIDEO_FRAMES - 1)
    img[120:184, step : step + 64] = (255, 255, 255)
    for bit in range(8):
        on = (index >> (7 - bit)) & 1
        x0 = 64 + bit * 64
        img[height * 5 // 6 + 16 : height - 16, x0 : x0 + 48] = 240 if on else 40
    return img


def mp4() -> bytes:
    """H.264 High profile, level 4.1, yuv420p, 640x480, 25 frame/s, 2 s, in MP4.

    One encoder thread, so the output does not depend on the machine's cores.
    """
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(VIDEO_RATE))
        stream.width, stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {
            "profile": "high",
            "level": "4.1",
            "preset": "medium",
            "crf": "23",
            "threads": "1",
        }
        for i in range(VIDEO_FRAMES):
            frame = av.VideoFrame.from_ndarray(_video_frame(i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def check_mp4(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        got = (cc.name, cc.profile, cc.level, cc.pix_fmt, cc.width, cc.height)
        frames = sum(1 for _ in container.decode(stream))
        rate = stream.average_rate
    want = ("h264", "High", 41, "yuv420p", *VIDEO_SIZE)
    if got != want or frames != VIDEO_FRAMES or rate != VIDEO_RATE:
        raise SystemExit(f"video came out as {got}, {frames} frames at {rate}/s; want {want}")


def annex_b(data: bytes) -> bytes:
    """The MP4's H.264 stream in Annex B form (start codes; parameter sets
    in band), by FFmpeg's h264_mp4toannexb bitstream filter."""
    out = bytearray()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in container.demux(stream):
            for filtered in bsf.filter(packet if packet.size else None):
                out += bytes(filtered)
        for filtered in bsf.filter(None):
            out += bytes(filtered)
    return bytes(out)


# ------------------------------------------------------------------- DICOM


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = {"img2dcm": "dcmtk", "dciodvfy": "dicom3tools"}[name]
        raise SystemExit(f"{name} is missing: apt-get install {package}")
    return path


def key_args(values: dict[str, str]) -> list[str]:
    args = []
    for keyword, value in values.items():
        args += ["-k", f"{keyword}={value}"]
    return args


def photo_dicom(source: Path, target: Path, number: int) -> None:
    """dcmtk's img2dcm: the JPEG file as a VL Photographic Image, bitstream unchanged."""
    keys = {
        **PATIENT,
        **STUDY,
        "StudyInstanceUID": STUDY_UID,
        "SeriesInstanceUID": PHOTO_SERIES_UID,
        "SOPInstanceUID": uid(f"instance/{source.stem}"),
        "SeriesNumber": "1",
        "InstanceNumber": str(number),
        "Modality": "XC",
        "Manufacturer": MANUFACTURER,
        "ImageLaterality": "U",
    }
    subprocess.run(
        [tool("img2dcm"), "-vlp", "-i", "JPEG", *key_args(keys), str(source), str(target)],
        check=True,
    )


def video_dicom(stream: bytes, target: Path) -> None:
    """pydicom: a Video Photographic Image holding the Annex B stream in one fragment."""
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = VIDEO_PHOTOGRAPHIC
    ds.SOPInstanceUID = uid("instance/video")
    for keyword, value in {**PATIENT, **STUDY}.items():
        setattr(ds, keyword, value)
    ds.Modality = "XC"
    ds.Manufacturer = MANUFACTURER
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = VIDEO_SERIES_UID
    ds.SeriesNumber = "2"
    ds.InstanceNumber = "1"
    ds.PatientOrientation = ""
    ds.ImageLaterality = "U"
    region = Dataset()
    region.CodeValue = "38266002"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Entire body"
    ds.AnatomicRegionSequence = Sequence([region])
    ds.AcquisitionContextSequence = Sequence([])
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = VIDEO_SIZE[1], VIDEO_SIZE[0]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = str(VIDEO_FRAMES)
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.FrameTime = str(1000 / VIDEO_RATE)
    ds.CineRate = str(VIDEO_RATE)
    ds.RecommendedDisplayFrameRate = str(VIDEO_RATE)
    ds.ActualFrameDuration = str(1000 // VIDEO_RATE)
    ds.StartTrim = "1"
    ds.StopTrim = str(VIDEO_FRAMES)
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_14496_10"
    ds.PixelData = encapsulate([stream], has_bot=False)
    ds["PixelData"].VR = "OB"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = H264_HP41
    ds.file_meta = meta
    ds.save_as(target, enforce_file_format=True)


def validate(path: Path) -> None:
    proc = subprocess.run(
        [tool("dciodvfy"), "-new", str(path)], capture_output=True, text=True, check=False
    )
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]
    if errors:
        raise SystemExit(f"dciodvfy finds errors in {path.name}:\n" + "\n".join(errors))


# -------------------------------------------------------------------- main


def make(root: Path) -> list[Path]:
    """Write every sample file under ``root``; return their paths."""
    for folder in ("jpeg", "video", "dicom"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    written = []
    for number, (name, width, height, target) in enumerate(PHOTOS, start=1):
        path = root / "jpeg" / f"{name}.jpg"
        path.write_bytes(jpeg_near(DRAW[name](width, height), target))
        written.append(path)
        dicom = root / "dicom" / f"vlp_{name}.dcm"
        photo_dicom(path, dicom, number)
        written.append(dicom)
    video = mp4()
    check_mp4(video)
    path = root / "video" / VIDEO
    path.write_bytes(video)
    written.append(path)
    dicom = root / "dicom" / "video_testsrc.dcm"
    video_dicom(annex_b(video), dicom)
    written.append(dicom)
    for path in written:
        if path.suffix == ".dcm":
            validate(path)
    return written


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="photopacs-data-") as tmp:
        made = make(Path(tmp))
        for path in made:
            target = HERE / path.relative_to(tmp)
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, target)
            print(f"{target.relative_to(HERE)}: {path.stat().st_size} bytes")
    total = sum((HERE / p.relative_to(tmp)).stat().st_size for p in made)
    print(f"total {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
