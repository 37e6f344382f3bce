"""Procedural gait: joint-angle cycles -> the 22 JTA joints of N people at once.

Everything here is in each person's *body frame*: x to their right, y forward, z up, the
root (spine4) above the origin, feet on the ground z = 0. `crowd.py` places bodies in the
world.

A gait cycle has phase 0..1 from the right heel strike. Each leg follows its own phase
(left = right + 0.5): hip flexion is a cosine whose amplitude makes the stance foot move
back as fast as the body moves forward (little foot sliding), the knee bends a little
after heel strike and a lot in swing, the foot rolls heel -> toe. Arms swing against the
opposite leg, the pelvis turns with the forward leg and the thorax turns back, the body
sways over the stance foot, and the root height follows whichever foot is lowest, which
gives the head bob for free. Running (weight `run`) has a shorter stance, bigger hip and
knee angles, bent elbows, a forward lean and a flight phase. Standing (gait weight 0)
keeps a slow postural sway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TWO_PI = 2 * np.pi


@dataclass(frozen=True)
class GaitInput:
    """Per-person gait controls, each (N,)."""

    phase: np.ndarray  # cycle phase in [0, 1), right heel strike at 0
    stride: np.ndarray  # metres travelled per cycle (two steps)
    walk: np.ndarray  # 0 standing .. 1 full gait amplitude
    run: np.ndarray  # 0 walking .. 1 running
    time: np.ndarray  # seconds, drives the idle sway
    head_yaw: np.ndarray  # radians, looking around
    style: np.ndarray  # per-person random in [0, 1): small differences in arm swing, lean


@dataclass(frozen=True)
class BodyPose:
    """Posed bodies in their body frames.

    joints: (N, 22, 3) JTA joints; heels, toes, hand_tips: (N, 2, 3) right then left;
    thorax, head: (N, 3, 3) rotations whose columns are the part's right, forward, up axes.
    """

    joints: np.ndarray
    heels: np.ndarray
    toes: np.ndarray
    hand_tips: np.ndarray
    thorax: np.ndarray
    head: np.ndarray


def pose_bodies(shape: dict[str, np.ndarray], gait: GaitInput) -> BodyPose:
    """Pose N bodies. `shape` maps each BodyShape field to an (N,) array."""
    n = len(gait.phase)
    walk, run = gait.walk, gait.run
    leg = shape["thigh"] + shape["shin"]
    stance = 0.6 - 0.25 * run  # fraction of the cycle a foot is on the ground

    # ---- legs: per-leg phase (N, 2), index 0 right, 1 left
    psi = np.stack((gait.phase, gait.phase + 0.5), axis=1) % 1.0
    amplitude = np.arcsin(np.clip(stance * gait.stride / (2 * leg), 0, 0.75))  # (N,)
    amplitude = np.minimum(amplitude, 0.55 - 0.15 * run)  # runners reach out less per step
    amplitude = (amplitude * walk)[:, None]
    run2 = run[:, None]
    walk2 = walk[:, None]
    # Peak flexion comes just before heel strike, a little earlier when running.
    hip = amplitude * np.cos(TWO_PI * (psi + 0.02 + 0.05 * run2)) + walk2 * (0.08 - 0.03 * run2)
    knee = walk2 * (
        (1 - run2) * (0.25 * _bump(psi, 0.12, 0.07) + 1.05 * _bump(psi, 0.72, 0.11))
        + run2 * (0.55 * _bump(psi, 0.15, 0.08) + 1.9 * _bump(psi, 0.62, 0.13))
    )
    idle = 1 - walk2
    sway = np.sin(0.9 * gait.time + 6 * gait.style)  # (N,) slow standing sway
    hip = hip + idle * (0.04 * np.array([1.0, -1.0]) * (gait.style[:, None] - 0.5))
    knee = knee + 0.04 + idle * 0.03 * np.stack((sway.clip(0), (-sway).clip(0)), axis=1)
    foot_pitch = walk2 * (0.3 * _bump(psi, 0.0, 0.05) - 0.6 * _bump(psi, stance[:, None], 0.07))

    pelvis_yaw = 0.12 * walk * (hip[:, 0] - hip[:, 1]) / (2 * amplitude[:, 0] + 0.2)
    pelvis = _rot_z(pelvis_yaw)  # (N, 3, 3)
    side = np.array([1.0, -1.0])  # right, left
    hip_offset = np.zeros((n, 2, 3))
    hip_offset[..., 0] = side * shape["hip_half_width"][:, None]
    hip_offset[..., 2] = -0.02 * shape["stature"][:, None]
    hips = np.einsum("nij,nkj->nki", pelvis, hip_offset)  # (N, 2, 3), root at origin
    abduction = 0.03 + 0.02 * run2
    leg_frame = pelvis[:, None] @ _rot_y(-side * abduction)  # (N, 2, 3, 3)
    down = np.array([0.0, 0.0, -1.0])
    thigh_dir = leg_frame @ _rot_x(hip) @ down  # (N, 2, 3)
    shin_dir = leg_frame @ _rot_x(hip - knee) @ down
    knees = hips + shape["thigh"][:, None, None] * thigh_dir
    ankles = knees + shape["shin"][:, None, None] * shin_dir
    foot_frame = pelvis[:, None] @ _rot_x(foot_pitch)
    foot_len, ankle_h = shape["foot"][:, None], shape["ankle_height"][:, None]
    heel_local = np.stack((0 * foot_len, -0.12 * foot_len, -0.7 * ankle_h), axis=-1)
    toe_local = np.stack(
        (0 * foot_len, 0.62 * foot_len, -ankle_h + 0.3 * shape["foot_radius"][:, None]), axis=-1
    )
    heels = ankles + np.einsum("nkij,nkj->nki", foot_frame, heel_local)
    toes = ankles + np.einsum("nkij,nkj->nki", foot_frame, toe_local)

    # Root height. Walking: the lowest foot touches the ground (the other is in the air).
    # Running: the stance foot touches the ground; in flight, blend towards the next
    # stance foot and lift a little.
    ground = -(np.minimum(heels[..., 2], toes[..., 2]) - shape["foot_radius"][:, None])  # (N, 2)
    walking_height = ground.max(axis=1)
    step = gait.phase % 0.5  # progress in the current step
    current = (gait.phase >= 0.5).astype(int)  # 0: right foot's step, 1: left foot's
    rows = np.arange(n)
    blend = np.clip((step - stance) / np.maximum(0.5 - stance, 1e-6), 0, 1)  # no flight: 0
    flight = 0.05 * np.sin(np.pi * blend)
    running_height = (
        (1 - blend) * ground[rows, current] + blend * ground[rows, 1 - current] + flight
    )
    height = walking_height + run * (running_height - walking_height)
    lateral = walk * 0.025 * np.cos(TWO_PI * (gait.phase - stance / 2)) + (1 - walk) * 0.012 * sway
    root = np.stack((lateral, np.zeros(n), height), axis=1)  # (N, 3)

    # ---- spine, head, arms in the thorax frame (counter-rotated, leaning forward)
    lean = 0.04 + 0.03 * gait.style + walk * (0.02 + 0.14 * run)
    thorax = _rot_z(-0.7 * pelvis_yaw) @ _rot_x(-lean)  # (N, 3, 3)
    spine = shape["spine"]
    spine_points = np.array(
        [[0, -0.01, 0.18], [0, -0.02, 0.38], [0, -0.02, 0.58], [0, -0.01, 0.8], [0, 0.01, 1.0]]
    )  # spine3, spine2, spine1, spine0, neck as (x, y, z) / spine length
    spine_xyz = np.einsum("nij,nkj->nki", thorax, spine_points[None] * spine[:, None, None])
    neck = spine_xyz[:, 4]
    head = _rot_z(gait.head_yaw) @ thorax @ _rot_x(0.05 + 0.1 * run - 0.05 * walk)
    head_centre = neck + np.einsum(
        "nij,nj->ni",
        head,
        np.stack((0 * spine, 0.015 * shape["stature"], shape["neck_to_head"]), axis=1),
    )
    stature = shape["stature"][:, None]
    clavicle_local = np.stack(
        np.broadcast_arrays(side * 0.022 * stature, 0.02 * stature, -0.03 * stature), axis=-1
    )  # (N, 2, 3)
    shoulder_local = np.stack(
        np.broadcast_arrays(
            side * shape["shoulder_half_width"][:, None], -0.01 * stature, -0.045 * stature
        ),
        axis=-1,
    )
    clavicles = neck[:, None] + np.einsum("nij,nkj->nki", thorax, clavicle_local)
    shoulders = neck[:, None] + np.einsum("nij,nkj->nki", thorax, shoulder_local)

    swing = (0.75 + 0.4 * gait.style)[:, None] * amplitude * (1 + 0.3 * run2)
    arm = swing * np.cos(TWO_PI * psi[:, ::-1]) - 0.05 * walk2 + run2 * 0.2  # right arm ~ left leg
    elbow = (
        0.2
        + 0.15 * gait.style[:, None]
        + (1 - run2) * 0.35 * np.clip(arm, 0, None) / (swing + 0.05)
    )
    elbow = elbow + run2 * (1.35 - elbow) + idle * 0.05 * sway[:, None]
    arm_abduction = 0.02 + 0.07 * (shape["torso_radius"][:, None] / (0.07 * stature))
    arm_frame = thorax[:, None] @ _rot_y(-side * arm_abduction)  # (N, 2, 3, 3)
    upper_dir = arm_frame @ _rot_x(arm) @ down
    fore_dir = arm_frame @ _rot_x(arm + elbow) @ down
    elbows = shoulders + shape["upper_arm"][:, None, None] * upper_dir
    wrists = elbows + shape["forearm"][:, None, None] * fore_dir
    hand_tips = wrists + shape["hand"][:, None, None] * fore_dir

    joints = np.empty((n, 22, 3))
    joints[:, 1] = head_centre
    joints[:, 0] = head_centre + (head_centre - neck)  # JTA extrapolates head_top this way
    joints[:, 2] = neck
    joints[:, 3], joints[:, 4], joints[:, 5], joints[:, 6] = (
        clavicles[:, 0],
        shoulders[:, 0],
        elbows[:, 0],
        wrists[:, 0],
    )
    joints[:, 7], joints[:, 8], joints[:, 9], joints[:, 10] = (
        clavicles[:, 1],
        shoulders[:, 1],
        elbows[:, 1],
        wrists[:, 1],
    )
    joints[:, 11:15] = spine_xyz[:, 3::-1]  # spine0 (highest) .. spine3
    joints[:, 15] = 0.0  # spine4, the root
    joints[:, 16], joints[:, 17], joints[:, 18] = hips[:, 0], knees[:, 0], ankles[:, 0]
    joints[:, 19], joints[:, 20], joints[:, 21] = hips[:, 1], knees[:, 1], ankles[:, 1]

    shift = root[:, None]
    return BodyPose(
        joints=joints + shift,
        heels=heels + shift,
        toes=toes + shift,
        hand_tips=hand_tips + shift,
        thorax=thorax,
        head=head,
    )


def cycle_frequency(speed: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Gait cycles per second for a speed (m/s): ~0.9 Hz walking at 1.3 m/s, ~1.4 Hz running."""
    walking = 0.55 + 0.28 * np.minimum(speed, 2.2)
    running = 0.95 + 0.13 * speed
    return walking + run * (running - walking)


# ---------------------------------------------------------------------- helpers
def _bump(x: np.ndarray, centre: np.ndarray | float, width: float) -> np.ndarray:
    """A Gaussian bump on the unit circle of phases."""
    delta = (x - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (delta / width) ** 2)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """(...,) -> (..., 3, 3) rotations about x (positive turns +y towards +z)."""
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(c), np.ones_like(c)
    return np.stack((i, o, o, o, c, -s, o, s, c), axis=-1).reshape(*np.shape(angle), 3, 3)


def _rot_y(angle: np.ndarray) -> np.ndarray:
    """(...,) -> (..., 3, 3) rotations about y (positive turns +z towards +x)."""
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(c), np.ones_like(c)
    return np.stack((c, o, s, o, i, o, -s, o, c), axis=-1).reshape(*np.shape(angle), 3, 3)


def _rot_z(angle: np.ndarray) -> np.ndarray:
    """(...,) -> (..., 3, 3) rotations about z (positive turns +x towards +y)."""
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(c), np.ones_like(c)
    return np.stack((c, -s, o, s, c, o, o, o, i), axis=-1).reshape(*np.shape(angle), 3, 3)
