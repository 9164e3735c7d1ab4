// The browser side of fomm_nb.widgets.board.PictureBoard (an anywidget module).
//
// A grid of captioned pictures with their legends. The kernel sends every
// picture of the board in one message (the `pictures` dict: name -> JPEG
// bytes) with a count per picture (`versions`), so a drag costs the server one
// message for all of them; only the pictures whose count changed are decoded.
// Each is decoded off screen and then put in place of the one shown, so a
// panel never shows an empty picture while its next one decodes.

function element(tag, className, parent) {
  const node = document.createElement(tag);
  node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

function render({ model, el }) {
  el.classList.add("fomm-board");
  const grid = element("div", "fomm-board-grid", el); // the panels, `columns` to a row; those `aside` to its right
  grid.style.gridTemplateColumns = `repeat(${model.get("columns")}, max-content)`;
  const images = {}; // name -> the <img> shown
  const shown = {}; // name -> the version shown (or being decoded)
  for (const spec of model.get("panels")) {
    const panel = element("div", `fomm-board-panel fomm-board-${spec.name}`, spec.aside ? el : grid);
    const caption = element("div", "fomm-caption", panel);
    caption.style.width = `${spec.width}px`;
    element("b", "", caption).textContent = spec.caption;
    const image = element("img", spec.smooth ? "fomm-board-image" : "fomm-board-image fomm-pixelated", panel);
    image.style.width = `${spec.width}px`;
    image.alt = spec.caption;
    images[spec.name] = image;
    if (spec.legend) {
      const legend = element("div", "fomm-legend", panel);
      legend.style.width = `${spec.width}px`;
      legend.innerHTML = spec.legend;
    }
  }

  function update() {
    const pictures = model.get("pictures"), versions = model.get("versions");
    for (const [name, version] of Object.entries(versions)) {
      if (!(name in images) || !(name in pictures) || shown[name] === version) continue;
      shown[name] = version;
      const url = URL.createObjectURL(new Blob([pictures[name]], { type: "image/jpeg" }));
      const next = images[name].cloneNode(false);
      next.src = url;
      next.decode().then(() => {
        if (shown[name] !== version) { // a newer picture came meanwhile
          URL.revokeObjectURL(url);
          return;
        }
        const before = images[name];
        before.replaceWith(next);
        images[name] = next;
        if (before.src.startsWith("blob:")) URL.revokeObjectURL(before.src);
      }, () => URL.revokeObjectURL(url));
    }
  }

  update();
  model.on("change:versions", update);
}

export default { render };
