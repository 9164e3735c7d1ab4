// The browser side of fomm_nb.widgets.camera.CameraWidget (an anywidget module).
//
// It asks for the camera (or plays the fallback clip), shows the preview, and
// sends frames to the kernel: each one drawn into a canvas at the model's size
// (the centre square), compressed to JPEG, sent with its number and capture
// time. Each new camera frame is sent at once, while the kernel still works on
// an earlier one: the kernel animates one frame at a time and drops (never
// queues) those that arrive while it works, so the capture, the encoding and
// the trip to the kernel overlap the kernel's work instead of waiting for its
// answer. At most MAX_ON_WIRE frames are unanswered at a time, so a kernel that
// stops reading (a long cell in JupyterLab) leaves no backlog in the pipes.
// Answers carry the animated frame, the camera frame's keypoints and the capture
// time back; the readout shows frames per second and capture-to-display
// latency. The protocol is described in fomm_nb/widgets/live_session.py.

const ANSWER_TIMEOUT_MS = 10000; // a frame not answered by then is given up (a restarted kernel)
// Frames sent and not yet answered, at most (each is answered: shown, dropped or refused). Enough for the camera's
// rate over a round trip of 8 frames (320 ms at 25 fps: Colab's proxy); a kernel that stops reading gets no more.
const MAX_ON_WIRE = 8;
const POLL_MS = 1000 / 30; // without requestVideoFrameCallback, the camera is read at most this often
const WINDOW_MS = 2000; // the readout averages over the last two seconds
const KEYPOINT_COLOURS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231",
                          "#911eb4", "#46f0f0", "#f032e6", "#bcf60c", "#fabebe"];

function element(tag, className, parent) {
  const node = document.createElement(tag);
  node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

// What the page says when the camera cannot be used: [status, message].
function cameraProblem(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return ["denied", "Camera permission was refused. Allow the camera for this page (the camera icon in the " +
            "address bar) and press 'use the camera', or press 'no camera? play a clip'."];
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return ["no-camera", "No camera was found. Connect one and press 'use the camera', or press 'no camera? play a clip'."];
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return ["no-camera", "The camera is busy (another program or tab uses it). Close that, then press 'use the camera'."];
  }
  return ["error", `The camera did not start (${name}: ${error && error.message}).`];
}

function render({ model, el }) {
  el.classList.add("fomm-live-camera");
  const row = element("div", "fomm-live-row", el);
  const previewBox = element("div", "fomm-live-preview", row);
  const video = element("video", "fomm-live-video", previewBox);
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  const overlay = element("canvas", "fomm-live-overlay", previewBox);
  const resultBox = element("div", "fomm-live-result-box", row);
  const result = element("canvas", "fomm-live-result", resultBox);
  result.setAttribute("role", "img");
  result.setAttribute("aria-label", "the animated picture");
  const readout = element("div", "fomm-live-readout", el);
  readout.textContent = "waiting for the first frame";
  const message = element("div", "fomm-live-message", el);
  const grab = document.createElement("canvas");

  // Figures for the readout, and for tests and benchmarks (element.fommLive).
  // For each shown frame, where its latency went (ms): capture to bytes sent (draw and JPEG), sent to answered (the
  // wire both ways and the kernel's work), answered to displayed (the browser decodes the JPEG); mostOnWire: the
  // most frames unanswered at once.
  const stats = { camera: 0, sent: 0, shown: 0, dropped: 0, errors: 0, lost: 0, latencies: [], work: [], shownAt: [],
                  encode: [], roundTrip: [], display: [], mostOnWire: 0 };
  el.fommLive = stats;
  let stream = null;
  let clipUrl = null;
  const onWire = new Map(); // id -> {id, t, sentAt} of each frame sent and not yet answered
  let nextId = 0;
  let running = true;
  let newestShown = -1; // id of the frame on screen: an answer decoded after a newer one is not shown

  function say(status, text) {
    message.textContent = text;
    message.classList.toggle("fomm-live-problem", Boolean(text));
    model.set("status", status);
    model.set("status_message", text);
    model.save_changes();
  }

  function stopInput() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    if (clipUrl) URL.revokeObjectURL(clipUrl);
    clipUrl = null;
    video.removeAttribute("src");
  }

  async function startCamera() {
    stopInput();
    if (!window.isSecureContext) {
      say("insecure", `The camera needs a secure page, and ${location.origin} is not one: open the notebook ` +
          "over https:// or on http://localhost (or 127.0.0.1), or press 'no camera? play a clip'.");
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("no-camera", "This browser gives pages no camera. Press 'no camera? play a clip'.");
      return;
    }
    say("starting", "Asking for the camera…");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } },
                                                           audio: false });
      video.srcObject = stream;
      await video.play();
      say("camera", "");
    } catch (error) {
      stopInput();
      say(...cameraProblem(error));
    }
  }

  async function playClip() {
    stopInput();
    const bytes = model.get("clip");
    if (!bytes || !bytes.byteLength) {
      say("error", "No clip to play.");
      return;
    }
    clipUrl = URL.createObjectURL(new Blob([bytes], { type: "video/mp4" }));
    video.src = clipUrl;
    video.loop = true;
    try {
      await video.play();
      say("clip", "");
    } catch (error) {
      say("error", `The clip did not play (${error.name}: ${error.message}).`);
    }
  }

  function start() {
    return model.get("playing") === "clip" ? playClip() : startCamera();
  }

  function drawKeypoints(points) {
    const side = previewBox.clientWidth;
    overlay.width = overlay.height = side;
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, side, side);
    if (!model.get("show_keypoints") || !points) return;
    points.forEach(([x, y], k) => {
      context.beginPath();
      context.arc((x + 1) / 2 * side, (y + 1) / 2 * side, Math.max(3, side / 60), 0, 2 * Math.PI);
      context.fillStyle = KEYPOINT_COLOURS[k % KEYPOINT_COLOURS.length];
      context.fill();
      context.strokeStyle = "white";
      context.stroke();
    });
  }

  function updateReadout() {
    const now = performance.now();
    while (stats.shownAt.length && now - stats.shownAt[0][0] > WINDOW_MS) stats.shownAt.shift();
    const recent = stats.shownAt;
    if (recent.length < 2) return;
    const fps = (recent.length - 1) / ((recent[recent.length - 1][0] - recent[0][0]) / 1000);
    const latencies = recent.map(([, latency]) => latency).sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)];
    const text = `${fps.toFixed(1)} fps · ${Math.round(median)} ms`;
    readout.textContent = text;
    if (model.get("readout") !== text) {
      model.set("readout", text);
      model.save_changes();
    }
  }

  // A frame is sent as soon as the camera has one not yet sent and fewer than MAX_ON_WIRE are unanswered. Browsers
  // that report new video frames (requestVideoFrameCallback) wake this up; others poll at most every POLL_MS.
  const reportsFrames = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  let fresh = true;
  let lastSent = 0;

  function onVideoFrame() {
    fresh = true;
    stats.camera += 1; // frames the camera (or clip) gave; those not sent were dropped here
    if (!running) return;
    video.requestVideoFrameCallback(onVideoFrame);
    capture();
  }

  function tick() {
    if (!running) return;
    requestAnimationFrame(tick);
    const now = performance.now();
    for (const [id, frame] of onWire) {
      if (now - frame.t > ANSWER_TIMEOUT_MS) {
        stats.lost += 1;
        onWire.delete(id);
      }
    }
    if (now - lastSent > (reportsFrames ? 200 : POLL_MS)) fresh = true; // polling, or a stalled report
    capture();
  }

  function capture() {
    if (!fresh || onWire.size >= MAX_ON_WIRE || video.readyState < 2 || !video.videoWidth) return;
    const size = model.get("size");
    const side = Math.min(video.videoWidth, video.videoHeight);
    if (grab.width !== size) grab.width = grab.height = size;
    grab.getContext("2d").drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side,
                                    0, 0, size, size);
    const frame = { id: nextId++, t: performance.now(), sentAt: null };
    onWire.set(frame.id, frame);
    stats.mostOnWire = Math.max(stats.mostOnWire, onWire.size);
    fresh = false;
    lastSent = frame.t;
    grab.toBlob((blob) => { // the canvas as it is now: the next frame may be drawn before this one is encoded
      if (!blob) {
        onWire.delete(frame.id);
        return;
      }
      blob.arrayBuffer().then((buffer) => {
        if (!onWire.has(frame.id)) return; // given up meanwhile
        frame.sentAt = performance.now();
        stats.sent += 1;
        model.send({ type: "frame", id: frame.id, t: frame.t }, undefined, [buffer]);
      });
    }, "image/jpeg", model.get("quality"));
  }

  function show(content, buffer, frame, answeredAt) {
    // Decoded off screen, then drawn in one step: the picture on screen (and any reader of it) never goes blank
    // between two answers, as an <img> does while its new src decodes.
    createImageBitmap(new Blob([buffer], { type: "image/jpeg" })).then((bitmap) => {
      if (frame.id < newestShown) {
        bitmap.close();
        return;
      }
      newestShown = frame.id;
      if (result.width !== bitmap.width || result.height !== bitmap.height) {
        result.width = bitmap.width;
        result.height = bitmap.height;
      }
      result.getContext("2d").drawImage(bitmap, 0, 0);
      bitmap.close();
      const now = performance.now();
      stats.shown += 1;
      stats.latencies.push(now - content.t);
      stats.work.push(content.work_ms);
      stats.encode.push(frame.sentAt - frame.t);
      stats.roundTrip.push(answeredAt - frame.sentAt);
      stats.display.push(now - answeredAt);
      stats.shownAt.push([now, now - content.t]);
      updateReadout();
    }, () => {
      stats.errors += 1; // the kernel's JPEG did not decode
    });
  }

  function answered(content, buffers) {
    const frame = content && onWire.get(content.id);
    if (!frame) return; // a late answer to a given-up frame
    const answeredAt = performance.now();
    onWire.delete(content.id);
    capture(); // a camera frame held back by a full wire goes out now
    if (content.type === "dropped") {
      stats.dropped += 1;
    } else if (content.type === "error") {
      stats.errors += 1;
      message.textContent = content.message;
      message.classList.add("fomm-live-problem");
    } else if (content.type === "result") {
      show(content, buffers[0], frame, answeredAt);
      drawKeypoints(content.keypoints);
      if (message.classList.contains("fomm-live-problem") && model.get("status") !== "error") {
        message.textContent = "";
        message.classList.remove("fomm-live-problem");
      }
    }
  }

  model.on("msg:custom", answered);
  model.on("change:playing change:restarts", start);
  model.on("change:show_keypoints", () => drawKeypoints(null));
  start();
  if (reportsFrames) video.requestVideoFrameCallback(onVideoFrame);
  requestAnimationFrame(tick);
  const readoutTimer = setInterval(updateReadout, 500);
  return () => {
    running = false;
    clearInterval(readoutTimer);
    stopInput();
    model.off("msg:custom", answered);
    model.off("change:playing change:restarts", start);
  };
}

export default { render };
