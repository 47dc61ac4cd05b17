"""A few lines of H.264 (Baseline profile, CAVLC): one flat-coloured clip of any size.

The emulator's clips must decode at the size a job asked for, yet stay tiny and need no
encoder at run time. A flat picture is cheap to code by hand: the first macroblock is
I_PCM (its raw samples carry the colour), every other one is Intra 16×16 DC-predicted with
no residual, so the colour spreads over the whole frame at one byte per macroblock; every
later frame is a P frame of skipped macroblocks, a dozen bytes. Deblocking is off, the
picture order count follows frame_num (type 2), sizes that are not multiples of 16 are
cropped. Syntax and tables: ITU-T H.264 §7.3 (slice and macroblock layers), §9.1 (Exp-Golomb
codes), Table 9-5 (coeff_token for TotalCoeff 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

FRAME_NUM_BITS = 16


class Bits:
    """An RBSP under construction, most significant bit first."""

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def u(self, n: int, value: int) -> Bits:
        self.value = (self.value << n) | (value & ((1 << n) - 1))
        self.length += n
        return self

    def ue(self, value: int) -> Bits:
        code = value + 1
        return self.u(2 * code.bit_length() - 1, code)  # leading zeros, then code

    def se(self, value: int) -> Bits:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align(self) -> Bits:
        return self.u(-self.length % 8, 0)

    def trailing(self) -> bytes:
        """rbsp_trailing_bits: a one, then zeros to the byte boundary."""
        self.u(1, 1).align()
        return self.value.to_bytes(self.length // 8, "big")

    def raw(self, data: bytes) -> Bits:
        """Append whole bytes (the stream must be byte-aligned)."""
        assert self.length % 8 == 0
        self.value = (self.value << (8 * len(data))) | int.from_bytes(data, "big")
        self.length += 8 * len(data)
        return self


@lru_cache(maxsize=64)
def _idr_rest(mbw: int, mbh: int) -> tuple[int, int]:
    """The bits of an IDR frame after its first (I_PCM) macroblock: (length, value)."""
    b = Bits()
    for n in range(1, mbw * mbh):
        # I_16x16_2_0_0 (DC prediction, no coded residual), chroma DC, mb_qp_delta 0, then
        # the luma DC block's coeff_token for "no coefficients": its table depends on nC,
        # 16 next to the I_PCM macroblock (right of it, or below it on the left edge).
        b.ue(3).ue(0).se(0)
        if n in (1, mbw):
            b.u(6, 0b000011)
        else:
            b.u(1, 1)
    return b.length, b.value


def nal(header: int, rbsp: bytes) -> bytes:
    """A NAL unit: its header byte, then the RBSP with emulation prevention bytes."""
    out = bytearray([header])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@dataclass(frozen=True)
class Picture:
    width: int
    height: int

    @property
    def mbs(self) -> tuple[int, int]:
        return (self.width + 15) // 16, (self.height + 15) // 16

    def sps(self) -> bytes:
        mbw, mbh = self.mbs
        b = Bits().u(8, 66).u(8, 0b11000000).u(8, 40)  # Constrained Baseline, level 4.0
        b.ue(0)  # seq_parameter_set_id
        b.ue(FRAME_NUM_BITS - 4).ue(2)  # log2_max_frame_num_minus4, pic_order_cnt_type 2
        b.ue(1).u(1, 0)  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
        b.ue(mbw - 1).ue(mbh - 1)
        b.u(1, 1).u(1, 1)  # frame_mbs_only_flag, direct_8x8_inference_flag
        right, bottom = (mbw * 16 - self.width) // 2, (mbh * 16 - self.height) // 2
        b.u(1, 1 if right or bottom else 0)  # frame_cropping_flag (in 2-sample units)
        if right or bottom:
            b.ue(0).ue(right).ue(0).ue(bottom)
        b.u(1, 0)  # vui_parameters_present_flag
        return nal(0x67, b.trailing())

    def pps(self) -> bytes:
        b = Bits().ue(0).ue(0)  # pic_parameter_set_id, seq_parameter_set_id
        b.u(1, 0).u(1, 0).ue(0)  # CAVLC, no field order flag, one slice group
        b.ue(0).ue(0)  # num_ref_idx_l0/l1_default_active_minus1
        b.u(1, 0).u(2, 0)  # no weighted prediction
        b.se(0).se(0).se(0)  # pic_init_qp/qs_minus26, chroma_qp_index_offset
        b.u(1, 1).u(1, 0).u(1, 0)  # deblocking control present, no constraints, no redundancy
        return nal(0x68, b.trailing())

    def idr(self, colour: tuple[int, int, int]) -> bytes:
        """An IDR frame of one colour (Y, Cb, Cr, each 16..235)."""
        y, cb, cr = colour
        b = Bits().ue(0).ue(7).ue(0)  # first_mb_in_slice, slice_type I, pic_parameter_set_id
        b.u(FRAME_NUM_BITS, 0).ue(0)  # frame_num, idr_pic_id
        b.u(1, 0).u(1, 0)  # dec_ref_pic_marking: no_output_of_prior_pics, not long-term
        b.se(0).ue(1)  # slice_qp_delta, disable_deblocking_filter_idc
        b.ue(25).align()  # mb_type I_PCM, pcm_alignment_zero_bits
        b.raw(bytes([y]) * 256 + bytes([cb]) * 64 + bytes([cr]) * 64)
        b.u(*_idr_rest(*self.mbs))  # the same for every colour: built once per frame size
        return nal(0x65, b.trailing())

    def skipped(self, frame_num: int) -> bytes:
        """A P frame whose every macroblock is skipped: the previous frame again."""
        mbw, mbh = self.mbs
        b = Bits().ue(0).ue(5).ue(0)  # first_mb_in_slice, slice_type P, pic_parameter_set_id
        b.u(FRAME_NUM_BITS, frame_num % (1 << FRAME_NUM_BITS))
        b.u(1, 0).u(1, 0)  # num_ref_idx_active_override_flag, ref_pic_list_modification
        b.u(1, 0)  # adaptive_ref_pic_marking_mode_flag
        b.se(0).ue(1)  # slice_qp_delta, disable_deblocking_filter_idc
        b.ue(mbw * mbh)  # mb_skip_run: all of them
        return nal(0x41, b.trailing())
