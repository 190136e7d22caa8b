"""Collective communication: synthesis of link-slot schedules, their lower bounds and an independent checker."""
