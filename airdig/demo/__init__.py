"""``airdig demo``: a simulated estate (AWS emulator, Kubernetes API, traffic, metrics) and a scripted
incident, fed to a running ``airdig up`` through each pillar's real input path."""
