"""Text as both front ends show it: untrusted text made safe, and numbers and runs in words."""
