"""All Qt code of metagui lives here; ``metagui.core`` never imports it."""
