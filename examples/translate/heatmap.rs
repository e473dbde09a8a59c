//! The cross-attention heatmap of one translation, as SVG: source tokens
//! across, output tokens down, darker = more attention (scaled to the
//! largest weight).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::common::Error;

const CELL: i32 = 28;
const MARGIN: i32 = 110;

/// Draws `weights` `[rows][cols]` (each row sums to 1) with `rows` and
/// `cols` as labels to `path`.
pub fn draw(
    path: &Path,
    weights: &[Vec<f32>],
    rows: &[String],
    cols: &[String],
) -> Result<(), Error> {
    let (w, h) = (cols.len() as i32, rows.len() as i32);
    let size = (
        (2 * MARGIN + w * CELL) as u32,
        (2 * MARGIN + h * CELL) as u32,
    );
    let root = SVGBackend::new(path, size).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let top = weights
        .iter()
        .flatten()
        .fold(f32::EPSILON, |m, &v| m.max(v));
    for (r, row) in weights.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let shade = (255.0 * (1.0 - (v / top).clamp(0.0, 1.0))) as u8;
            let (x, y) = (MARGIN + c as i32 * CELL, MARGIN + r as i32 * CELL);
            let cell = Rectangle::new(
                [(x, y), (x + CELL, y + CELL)],
                RGBColor(shade, shade, 255).filled(),
            );
            root.draw(&cell).map_err(|e| fail(&e))?;
        }
    }
    let font = ("sans-serif", 13).into_font();
    let right = TextStyle::from(font.clone()).pos(Pos::new(HPos::Right, VPos::Center));
    for (r, label) in rows.iter().enumerate() {
        let at = (MARGIN - 6, MARGIN + r as i32 * CELL + CELL / 2);
        root.draw(&Text::new(label.as_str(), at, right.clone()))
            .map_err(|e| fail(&e))?;
    }
    let up = TextStyle::from(font.transform(FontTransform::Rotate270))
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (c, label) in cols.iter().enumerate() {
        let at = (MARGIN + c as i32 * CELL + CELL / 2, MARGIN - 6);
        root.draw(&Text::new(label.as_str(), at, up.clone()))
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
