"""Autonomy levels and the guards of autonomous publishing."""
