"""The tkinter desktop app: widgets (app), what a result shows (present), the preview sheet, the theme."""
