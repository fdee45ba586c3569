"""Screenshots of the studio after a 10-step run with the shipped model, in headless Chromium.

  python scripts/studio_screenshots.py --out docs/figures

Writes studio-1366.png, studio-1920.png (first screen), studio-390.png (the whole page, one
column) and studio-dark-1366.png (`?__theme=dark`), as 256-colour PNGs.
"""
import argparse
import shutil
import time

from PIL import Image

from maskgit.bench.studio import FLAGS, free_port, start_studio

SHOTS = [("studio-1366", 1366, 768, "", False), ("studio-1920", 1920, 1080, "", False),
         ("studio-390", 390, 844, "", True), ("studio-dark-1366", 1366, 768, "?__theme=dark", False)]


def small_png(path):
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT,
                                             dither=Image.Dither.NONE).save(path, optimize=True)


def paint_and_run(page):
    page.wait_for_selector("#editor [data-ready] canvas", timeout=120000)
    page.wait_for_function("() => document.fonts.status === 'loaded' && [...document.images].every(i => i.complete)")
    canvas = page.locator("#editor canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    at = lambda x, y: (box["x"] + x / 64 * box["width"], box["y"] + y / 64 * box["height"])  # noqa: E731
    page.mouse.move(*at(14, 22))
    page.mouse.down()
    page.mouse.move(*at(50, 26), steps=5)
    page.mouse.move(*at(40, 34), steps=3)
    page.mouse.up()
    page.locator("#show-confidence input").click()
    page.click("#inpaint-btn")
    page.wait_for_function("() => /Step 10 of 10/.test(document.querySelector('#status').innerText)", timeout=300000)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    time.sleep(1.5)  # the player and downloads arrive after the last step
    page.evaluate("window.scrollTo(0, 0)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--checkpoints", default="checkpoints")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright
    proc, url = start_studio(args.checkpoints, free_port())
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            for name, width, height, query, full in SHOTS:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url + query)
                paint_and_run(page)
                path = f"{args.out}/{name}.png"
                page.screenshot(path=path, full_page=full)
                small_png(path)
                print("wrote", path)
                page.close()
            browser.close()
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
