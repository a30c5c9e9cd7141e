// Metro Wire Daily — demo script (no network calls).
