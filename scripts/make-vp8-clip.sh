#!/bin/sh
# Makes the VP8 test pattern shipped with `vchat bots --media vp8`: 4 s at 30 fps, 320x240,
# a key frame every 15 frames (so a PLI is answered within half a second), ~300 kbps, and a
# visible frame counter. Run once; only the small IVF it writes is committed. Needs Debian's
# ffmpeg (apt-get install -y ffmpeg) and a monospace font (fonts-dejavu-core).
set -eu
out="${1:-$(dirname "$0")/../bots/assets/testpattern-vp8.ivf}"
font="$(fc-match -f '%{file}' monospace 2>/dev/null || echo /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf)"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=320x240:rate=30:duration=4" \
  -vf "drawtext=fontfile=${font}:text='vchat bot  frame %{frame_num}':x=10:y=h-34:fontsize=20:fontcolor=white:box=1:boxcolor=black@0.7" \
  -c:v libvpx -b:v 300k -minrate 300k -maxrate 300k -g 15 -keyint_min 15 -auto-alt-ref 0 -lag-in-frames 0 \
  -deadline good -cpu-used 4 -pix_fmt yuv420p -f ivf "$out"
ls -l "$out"
