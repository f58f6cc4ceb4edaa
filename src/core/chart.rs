//! The leadership digest's chart: stacked horizontal bars of measures per lead unit (牵头单位),
//! rendered to PNG bytes.
//!
//! Everything here is pure: no clock, no environment and no file I/O. The only outside data is
//! the bundled font, a subset of Noto Sans CJK SC embedded with `include_bytes!` (see
//! `data/fonts/README.md`), so no system font is needed. The one side effect is that fonts are
//! registered in plotters' process-wide font table, under names private to this module.
//!
//! Each bar stacks four segments from left to right, coloured as the lights are: closed
//! measures (grey: closed measures have no light), then the open ones by light: green,
//! yellow and red. [`UnitBar::open`] counts every measure that is not closed; [`UnitBar::yellow`]
//! and [`UnitBar::red`] are the parts of those that are yellow and red, so the segments are
//! `closed`, `open − yellow − red`, `yellow` and `red`, and a bar's full length is
//! `closed + open`. Counts larger than `open` are cut to it, red first.
//!
//! Bars are drawn top to bottom in the order given; sort them beforehand for a ranking. At most
//! [`MAX_BARS`] are drawn: with more units, the chart keeps the [`MAX_BARS`] units with the most
//! open measures (ties go to more red measures, then to the earlier unit), keeps their given
//! order, and says so in a footnote. The image is [`WIDTH`] pixels wide and grows by
//! [`ROW_HEIGHT`] pixels per bar (at least `MIN_HEIGHT`, about 1,200 pixels for 40 bars).
//!
//! The legend shows the totals of the segments drawn, one entry per colour: 已销号, 绿灯, 黄灯,
//! 红灯, so that the legend and the bars count the same things. Each bar ends with its total. The chart's own two notes, "no data" and the
//! footnote, are in Chinese when any label holds a CJK ideograph and in English otherwise.

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, GlyphId, ScaleFont as _, point};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The drawing area of the whole chart.
type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// The bundled font: Noto Sans CJK SC Regular, subset to ASCII, CJK punctuation, full-width
/// forms, all GB2312 hanzi and every character of `samples/ledger.toml`.
pub static BUNDLED_FONT: &[u8] =
    include_bytes!("../../data/fonts/NotoSansCJKsc-Regular-subset.otf");

/// The most bars one chart draws.
pub const MAX_BARS: usize = 40;
/// The width of every chart, in pixels.
pub const WIDTH: u32 = 1000;
/// The height each bar adds to the chart, in pixels.
pub const ROW_HEIGHT: u32 = 26;

/// The plotters font family under which the bundled font is registered.
const BUNDLED_FAMILY: &str = "duban-chart-noto-sans-cjk-sc";

/// The height of the title and legend band above the plot, in pixels.
const HEADER_HEIGHT: u32 = 84;
/// The height of the x axis (tick labels and axis description) below the plot, in pixels.
const X_AXIS_HEIGHT: u32 = 56;
/// The space below the x axis, in pixels.
const BOTTOM_MARGIN: u32 = 12;
/// The extra height of the footnote shown when bars were left out, in pixels.
const FOOTNOTE_HEIGHT: u32 = 24;
/// The smallest chart height, so that a chart of one bar or of none still reads well.
const MIN_HEIGHT: u32 = 260;
/// The gap between the plot and the right edge, in pixels.
const RIGHT_MARGIN: u32 = 40;
/// The widest unit-name column, in pixels; longer names are shortened with an ellipsis.
const MAX_NAME_COLUMN: u32 = 300;

const TITLE_SIZE: f32 = 26.0;
const LEGEND_SIZE: f32 = 16.0;
const LABEL_SIZE: f32 = 15.0;
const NOTE_SIZE: f32 = 14.0;
/// The vertical centre of the title, in pixels from the top.
const TITLE_CENTER_Y: i32 = 24;
/// The vertical centre of the legend row, in pixels from the top.
const LEGEND_CENTER_Y: i32 = 60;

/// The colour of closed measures (已销号): grey, as they have no light.
pub const CLOSED_COLOR: RGBColor = RGBColor(170, 170, 170);
/// The colour of open measures with a green light (绿灯).
pub const GREEN_COLOR: RGBColor = RGBColor(56, 158, 84);
/// The colour of open measures with a yellow light (黄灯): amber.
pub const YELLOW_COLOR: RGBColor = RGBColor(242, 178, 51);
/// The colour of red measures (红灯): red.
pub const RED_COLOR: RGBColor = RGBColor(214, 48, 49);
/// The background colour of the chart.
pub const BACKGROUND_COLOR: RGBColor = RGBColor(255, 255, 255);
const TEXT_COLOR: RGBColor = RGBColor(40, 40, 40);
const MUTED_COLOR: RGBColor = RGBColor(110, 110, 110);
const GRID_COLOR: RGBColor = RGBColor(225, 225, 225);

/// One bar: a lead unit (牵头单位) and its measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitBar {
    /// The lead unit's name, shown beside its bar.
    pub unit: String,
    /// How many of the unit's measures are closed (已销号).
    pub closed: u32,
    /// How many of the unit's measures are not closed, red ones included.
    pub open: u32,
    /// How many of the open measures are yellow (黄灯); a part of `open`.
    pub yellow: u32,
    /// How many of the open measures are red (红灯); a part of `open`.
    pub red: u32,
}

impl UnitBar {
    /// The open measures with a green light: those neither yellow nor red.
    pub fn green(&self) -> u32 {
        self.open - red_of(self) - yellow_of(self)
    }
}

/// The words drawn on the chart, so that it can be drawn in Chinese or in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartLabels {
    /// The legend entry for closed measures, e.g. 已销号.
    pub closed: String,
    /// The legend entry for open measures with a green light, e.g. 绿灯.
    pub green: String,
    /// The legend entry for open measures with a yellow light, e.g. 黄灯.
    pub yellow: String,
    /// The legend entry for red measures, e.g. 红灯.
    pub red: String,
    /// The description of the value axis, e.g. 整改措施数（项）.
    pub axis: String,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The font bytes are not a font that ab_glyph can parse.
    #[error("the chart font could not be parsed as a TrueType or OpenType font")]
    InvalidFont,
    /// Plotters failed while drawing the chart.
    #[error("drawing the chart failed: {0}")]
    Drawing(String),
    /// The drawn pixels could not be encoded as PNG.
    #[error("encoding the chart as PNG failed: {0}")]
    Encoding(String),
}

/// Renders the stacked bar chart of measures per lead unit with the bundled font, as PNG bytes.
///
/// See the module documentation for the stacking order, the bar limit and the image size. An
/// empty `bars` gives a small chart with the title and a "no data" note.
pub fn unit_bars_png(
    title: &str,
    labels: &ChartLabels,
    bars: &[UnitBar],
) -> Result<Vec<u8>, ChartError> {
    unit_bars_png_with_font(None, title, labels, bars)
}

/// Renders the chart like [`unit_bars_png`], with `font` instead of the bundled font when given.
///
/// `font` holds the whole contents of a TrueType or OpenType font file (of a collection, the
/// first face is used); a font loaded at run time can be passed by leaking its `Vec` with
/// `Vec::leak`. Each distinct font is registered with plotters once per call and stays
/// registered for the life of the process.
pub fn unit_bars_png_with_font(
    font: Option<&'static [u8]>,
    title: &str,
    labels: &ChartLabels,
    bars: &[UnitBar],
) -> Result<Vec<u8>, ChartError> {
    let font = ChartFont::load(font)?;
    let shown = keep_most_open(bars, MAX_BARS);
    let truncated = shown.len() < bars.len();
    let height = chart_height(shown.len(), truncated);
    let mut pixels = vec![0u8; WIDTH as usize * height as usize * 3];
    draw_chart(
        &mut pixels,
        height,
        &font,
        title,
        labels,
        &shown,
        bars.len(),
    )?;
    encode_png(&pixels, WIDTH, height)
}

/// Lists the characters of `text` that the bundled font has no glyph for, each once, in order
/// of first appearance; control characters are skipped.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let Ok(font) = FontRef::try_from_slice(BUNDLED_FONT) else {
        return text.chars().filter(|c| !c.is_control()).collect();
    };
    missing_glyphs_in(&font, text)
}

/// Lists the characters of `text` that `font` has no glyph for, like [`missing_glyphs`] does for
/// the bundled font.
pub fn missing_glyphs_with_font(font: &[u8], text: &str) -> Result<Vec<char>, ChartError> {
    let font = FontRef::try_from_slice(font).map_err(|_| ChartError::InvalidFont)?;
    Ok(missing_glyphs_in(&font, text))
}

/// Picks at most `max` bars, preferring the units with the most open measures, then the most
/// red measures, then the earlier ones, and returns them in their given order.
pub fn keep_most_open(bars: &[UnitBar], max: usize) -> Vec<&UnitBar> {
    if bars.len() <= max {
        return bars.iter().collect();
    }
    let mut order: Vec<usize> = (0..bars.len()).collect();
    order.sort_by(|&a, &b| {
        let (a_bar, b_bar) = (&bars[a], &bars[b]);
        b_bar
            .open
            .cmp(&a_bar.open)
            .then(red_of(b_bar).cmp(&red_of(a_bar)))
            .then(a.cmp(&b))
    });
    order.truncate(max);
    order.sort_unstable();
    order.into_iter().map(|i| &bars[i]).collect()
}

/// The chart's height in pixels for `bar_count` bars, with room for the footnote if `truncated`.
fn chart_height(bar_count: usize, truncated: bool) -> u32 {
    let rows = u32::try_from(bar_count)
        .unwrap_or(u32::MAX)
        .min(MAX_BARS as u32);
    let footnote = if truncated { FOOTNOTE_HEIGHT } else { 0 };
    let height = HEADER_HEIGHT + rows * ROW_HEIGHT + X_AXIS_HEIGHT + BOTTOM_MARGIN + footnote;
    height.max(MIN_HEIGHT)
}

/// The red measures of a bar, never more than its open measures.
fn red_of(bar: &UnitBar) -> u32 {
    bar.red.min(bar.open)
}

/// The yellow part of a bar, cut to what the red part leaves of `open`.
fn yellow_of(bar: &UnitBar) -> u32 {
    bar.yellow.min(bar.open - red_of(bar))
}

fn missing_glyphs_in(font: &FontRef<'_>, text: &str) -> Vec<char> {
    let mut missing = Vec::new();
    for c in text.chars() {
        if c.is_control() || missing.contains(&c) {
            continue;
        }
        if font.glyph_id(c) == GlyphId(0) {
            missing.push(c);
        }
    }
    missing
}

/// A font registered with plotters, with its parsed form kept for measuring text.
struct ChartFont {
    family: String,
    face: FontRef<'static>,
}

impl ChartFont {
    /// Parses and registers `bytes`, or the bundled font when `bytes` is `None`.
    fn load(bytes: Option<&'static [u8]>) -> Result<Self, ChartError> {
        let Some(bytes) = bytes else {
            return Self::bundled();
        };
        let face = FontRef::try_from_slice(bytes).map_err(|_| ChartError::InvalidFont)?;
        let family = format!(
            "duban-chart-font-{:x}-{}",
            bytes.as_ptr() as usize,
            bytes.len()
        );
        plotters::style::register_font(&family, FontStyle::Normal, bytes)
            .map_err(|_| ChartError::InvalidFont)?;
        Ok(Self { family, face })
    }

    /// The bundled font, registered once per process.
    fn bundled() -> Result<Self, ChartError> {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        let registered = *REGISTERED.get_or_init(|| {
            plotters::style::register_font(BUNDLED_FAMILY, FontStyle::Normal, BUNDLED_FONT).is_ok()
        });
        if !registered {
            return Err(ChartError::InvalidFont);
        }
        let face = FontRef::try_from_slice(BUNDLED_FONT).map_err(|_| ChartError::InvalidFont)?;
        Ok(Self {
            family: BUNDLED_FAMILY.to_string(),
            face,
        })
    }

    /// A plotters text style of this font at `size` pixels in `color`, anchored at `pos`; used
    /// only for the axis tick labels, which are digits.
    fn style(&self, size: f32, color: RGBColor, pos: Pos) -> TextStyle<'_> {
        (FontFamily::Name(&self.family), f64::from(size))
            .into_font()
            .color(&color)
            .pos(pos)
    }

    /// Draws one line of `text` at `size` pixels in `color`, vertically centred on `y` and
    /// aligned at `x` as `align` says.
    ///
    /// Plotters' own text drawing ignores each glyph's left side bearing, which pushes
    /// full-width punctuation such as （ and ， out of place, so the chart draws its words here.
    fn draw_text(
        &self,
        canvas: &Canvas<'_>,
        text: &str,
        size: f32,
        color: RGBColor,
        (x, y): (i32, i32),
        align: HPos,
    ) -> Result<(), ChartError> {
        let scaled = self.face.as_scaled(size);
        let width = self.width(size, text);
        let mut pen = match align {
            HPos::Left => x as f32,
            HPos::Center => x as f32 - width / 2.0,
            HPos::Right => x as f32 - width,
        };
        // Ideographs and digits are both centred about 0.37 em above the baseline.
        let baseline = y as f32 + 0.37 * size;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            let glyph = id.with_scale_and_position(size, point(pen, baseline));
            pen += scaled.h_advance(id);
            let Some(outline) = self.face.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let at = (
                    bounds.min.x as i32 + gx as i32,
                    bounds.min.y as i32 + gy as i32,
                );
                result = canvas.draw_pixel(at, &color.mix(f64::from(coverage.min(1.0))));
            });
            result.map_err(drawing_error)?;
        }
        Ok(())
    }

    /// The width of `text` at `size` pixels, measured the way plotters lays it out.
    fn width(&self, size: f32, text: &str) -> f32 {
        let scaled = self.face.as_scaled(size);
        text.chars()
            .map(|c| scaled.h_advance(scaled.glyph_id(c)))
            .sum()
    }

    /// `text` shortened with an ellipsis so that it is at most `max_width` pixels wide.
    fn fit(&self, size: f32, text: &str, max_width: f32) -> String {
        if self.width(size, text) <= max_width {
            return text.to_string();
        }
        let budget = max_width - self.width(size, "…");
        let mut fitted = String::new();
        let mut used = 0.0;
        let scaled = self.face.as_scaled(size);
        for c in text.chars() {
            let advance = scaled.h_advance(scaled.glyph_id(c));
            if used + advance > budget {
                break;
            }
            used += advance;
            fitted.push(c);
        }
        fitted.push('…');
        fitted
    }
}

/// Whether the labels are in Chinese, which picks the language of the chart's own notes.
fn labels_are_chinese(labels: &ChartLabels) -> bool {
    [
        &labels.closed,
        &labels.green,
        &labels.yellow,
        &labels.red,
        &labels.axis,
    ]
    .iter()
    .flat_map(|s| s.chars())
    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn drawing_error(err: impl std::fmt::Display) -> ChartError {
    ChartError::Drawing(err.to_string())
}

/// Draws the whole chart into `pixels`, an RGB buffer of [`WIDTH`] × `height`.
fn draw_chart(
    pixels: &mut [u8],
    height: u32,
    font: &ChartFont,
    title: &str,
    labels: &ChartLabels,
    shown: &[&UnitBar],
    total_units: usize,
) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(pixels, (WIDTH, height)).into_drawing_area();
    root.fill(&BACKGROUND_COLOR).map_err(drawing_error)?;
    let chinese = labels_are_chinese(labels);

    let center_x = (WIDTH / 2) as i32;
    let title = font.fit(TITLE_SIZE, title, (WIDTH - 40) as f32);
    font.draw_text(
        &root,
        &title,
        TITLE_SIZE,
        TEXT_COLOR,
        (center_x, TITLE_CENTER_Y),
        HPos::Center,
    )?;

    if shown.is_empty() {
        let note = if chinese { "暂无数据" } else { "No data" };
        let y = (height / 2) as i32 + 20;
        font.draw_text(&root, note, 20.0, MUTED_COLOR, (center_x, y), HPos::Center)?;
        return root.present().map_err(drawing_error);
    }

    draw_legend(&root, font, labels, shown)?;

    let name_column = shown
        .iter()
        .map(|bar| font.width(LABEL_SIZE, &bar.unit).ceil() as u32 + 16)
        .max()
        .unwrap_or(0)
        .clamp(60, MAX_NAME_COLUMN);
    let footnote = if shown.len() < total_units {
        FOOTNOTE_HEIGHT
    } else {
        0
    };
    let plot_bottom = height - BOTTOM_MARGIN - footnote;
    let body = root.margin(HEADER_HEIGHT, height - plot_bottom, 0, RIGHT_MARGIN);

    let rows = shown.len();
    let longest = shown
        .iter()
        .map(|bar| bar.closed.saturating_add(bar.open))
        .max()
        .unwrap_or(0);
    let x_end = longest
        .saturating_add(longest / 10)
        .saturating_add(1)
        .max(5);
    let mut chart = ChartBuilder::on(&body)
        .set_label_area_size(LabelAreaPosition::Left, name_column)
        .set_label_area_size(LabelAreaPosition::Bottom, X_AXIS_HEIGHT)
        .build_cartesian_2d(0u32..x_end, 0f64..rows as f64)
        .map_err(drawing_error)?;

    let integer_ticks = |v: &u32| v.to_string();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(10)
        .x_label_formatter(&integer_ticks)
        .label_style(font.style(LABEL_SIZE, TEXT_COLOR, Pos::new(HPos::Center, VPos::Top)))
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_COLOR)
        .axis_style(MUTED_COLOR)
        .draw()
        .map_err(drawing_error)?;

    let (plot_left, _) = chart.backend_coord(&(0, 0.0));
    let (plot_right, _) = chart.backend_coord(&(x_end, 0.0));
    let axis_desc_y = (plot_bottom - X_AXIS_HEIGHT / 4) as i32;
    let axis_desc_x = (plot_left + plot_right) / 2;
    font.draw_text(
        &root,
        &labels.axis,
        LABEL_SIZE,
        TEXT_COLOR,
        (axis_desc_x, axis_desc_y),
        HPos::Center,
    )?;

    let name_width = (name_column - 16) as f32;
    for (index, bar) in shown.iter().enumerate() {
        // The first bar goes at the top, where the y axis ends.
        let row = (rows - 1 - index) as f64;
        let green_end = bar.closed.saturating_add(bar.green());
        let yellow_end = green_end.saturating_add(yellow_of(bar));
        let segments = [
            (0, bar.closed, CLOSED_COLOR),
            (bar.closed, green_end, GREEN_COLOR),
            (green_end, yellow_end, YELLOW_COLOR),
            (yellow_end, bar.closed.saturating_add(bar.open), RED_COLOR),
        ];
        let rectangles = segments
            .into_iter()
            .filter(|(start, end, _)| end > start)
            .map(|(start, end, color)| {
                Rectangle::new([(start, row + 0.18), (end, row + 0.82)], color.filled())
            });
        chart.draw_series(rectangles).map_err(drawing_error)?;

        let total = bar.closed.saturating_add(bar.open);
        let (end_x, y) = chart.backend_coord(&(total, row + 0.5));
        let total_at = (end_x + 6, y);
        font.draw_text(
            &root,
            &total.to_string(),
            LABEL_SIZE,
            TEXT_COLOR,
            total_at,
            HPos::Left,
        )?;

        let name = font.fit(LABEL_SIZE, &bar.unit, name_width);
        let name_at = (name_column as i32 - 10, y);
        font.draw_text(&root, &name, LABEL_SIZE, TEXT_COLOR, name_at, HPos::Right)?;
    }

    if footnote > 0 {
        let note = if chinese {
            format!(
                "注：共{total_units}个单位，仅显示未销号措施最多的{}个。",
                shown.len()
            )
        } else {
            format!(
                "Note: showing the {} of {total_units} units with the most open measures.",
                shown.len()
            )
        };
        let y = (plot_bottom + FOOTNOTE_HEIGHT / 2) as i32;
        font.draw_text(&root, &note, NOTE_SIZE, MUTED_COLOR, (20, y), HPos::Left)?;
    }
    root.present().map_err(drawing_error)
}

/// Draws the legend row, centred under the title, with the totals of the segments shown:
/// closed, green, yellow and red measures.
fn draw_legend(
    root: &Canvas<'_>,
    font: &ChartFont,
    labels: &ChartLabels,
    shown: &[&UnitBar],
) -> Result<(), ChartError> {
    let closed: u64 = shown.iter().map(|bar| u64::from(bar.closed)).sum();
    let green: u64 = shown.iter().map(|bar| u64::from(bar.green())).sum();
    let yellow: u64 = shown.iter().map(|bar| u64::from(yellow_of(bar))).sum();
    let red: u64 = shown.iter().map(|bar| u64::from(red_of(bar))).sum();
    let entries = [
        (format!("{} {closed}", labels.closed), CLOSED_COLOR),
        (format!("{} {green}", labels.green), GREEN_COLOR),
        (format!("{} {yellow}", labels.yellow), YELLOW_COLOR),
        (format!("{} {red}", labels.red), RED_COLOR),
    ];
    const SWATCH: i32 = 14;
    const SWATCH_GAP: i32 = 6;
    const ENTRY_GAP: i32 = 28;
    let widths: Vec<i32> = entries
        .iter()
        .map(|(text, _)| font.width(LEGEND_SIZE, text).ceil() as i32)
        .collect();
    let total: i32 = widths.iter().map(|w| SWATCH + SWATCH_GAP + w).sum::<i32>()
        + ENTRY_GAP * (entries.len() as i32 - 1);
    let mut x = (WIDTH as i32 - total) / 2;
    for ((text, color), width) in entries.iter().zip(widths) {
        let top = LEGEND_CENTER_Y - SWATCH / 2;
        root.draw(&Rectangle::new(
            [(x, top), (x + SWATCH, top + SWATCH)],
            color.filled(),
        ))
        .map_err(drawing_error)?;
        let at = (x + SWATCH + SWATCH_GAP, LEGEND_CENTER_Y);
        font.draw_text(root, text, LEGEND_SIZE, TEXT_COLOR, at, HPos::Left)?;
        x += SWATCH + SWATCH_GAP + width + ENTRY_GAP;
    }
    Ok(())
}

/// Encodes an RGB buffer of `width` × `height` as PNG.
fn encode_png(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder
        .write_header()
        .map_err(|err| ChartError::Encoding(err.to_string()))?;
    writer
        .write_image_data(pixels)
        .map_err(|err| ChartError::Encoding(err.to_string()))?;
    writer
        .finish()
        .map_err(|err| ChartError::Encoding(err.to_string()))?;
    Ok(out)
}
