use super::*;

/// A decoded RGB image.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn decode(bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let size = reader.output_buffer_size().expect("a sane size");
        let mut rgb = vec![0; size];
        let info = reader.next_frame(&mut rgb).expect("PNG pixels");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        rgb.truncate(info.buffer_size());
        Image {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    /// The pixels of the rows `rows`, as RGB triples.
    fn pixels(&self, rows: std::ops::Range<u32>) -> impl Iterator<Item = [u8; 3]> + '_ {
        let row_bytes = self.width as usize * 3;
        let start = rows.start as usize * row_bytes;
        let end = rows.end.min(self.height) as usize * row_bytes;
        self.rgb[start..end]
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
    }

    fn count(&self, rows: std::ops::Range<u32>, color: RGBColor) -> usize {
        let wanted = [color.0, color.1, color.2];
        self.pixels(rows).filter(|p| *p == wanted).count()
    }

    fn non_background(&self, rows: std::ops::Range<u32>) -> usize {
        let background = [BACKGROUND_COLOR.0, BACKGROUND_COLOR.1, BACKGROUND_COLOR.2];
        self.pixels(rows).filter(|p| *p != background).count()
    }

    fn distinct_colors(&self) -> usize {
        let mut colors: Vec<[u8; 3]> = self.pixels(0..self.height).collect();
        colors.sort_unstable();
        colors.dedup();
        colors.len()
    }
}

fn chinese() -> ChartLabels {
    ChartLabels {
        closed: "已销号".into(),
        green: "绿灯".into(),
        yellow: "黄灯".into(),
        red: "红灯".into(),
        axis: "整改措施数（项）".into(),
    }
}

fn english() -> ChartLabels {
    ChartLabels {
        closed: "Closed".into(),
        green: "Green".into(),
        yellow: "Yellow".into(),
        red: "Red".into(),
        axis: "Measures".into(),
    }
}

fn bar(unit: &str, closed: u32, open: u32, red: u32) -> UnitBar {
    UnitBar {
        unit: unit.into(),
        closed,
        open,
        yellow: 0,
        red,
    }
}

/// `count` units with made-up names and a mix of closed, open and red measures.
fn units(count: u32, with_red: bool) -> Vec<UnitBar> {
    (0..count)
        .map(|i| {
            let red = if with_red { i % 3 } else { 0 };
            bar(&format!("第{i}综合行政执法局"), i % 7, 2 + i % 5, red)
        })
        .collect()
}

fn render(title: &str, labels: &ChartLabels, bars: &[UnitBar]) -> Image {
    let bytes = unit_bars_png(title, labels, bars).expect("the chart renders");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
    Image::decode(&bytes)
}

/// Every string value in the sample ledger.
fn ledger_strings() -> Vec<String> {
    fn walk(value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            toml::Value::Table(table) => table.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    // Built in, as the core reads no files.
    let text = include_str!("../../../samples/ledger.toml");
    let value: toml::Value = toml::from_str(text).expect("the sample ledger parses");
    let mut out = Vec::new();
    walk(&value, &mut out);
    out
}

#[test]
fn renders_a_png_of_fixed_width_whose_height_grows_with_the_bars() {
    let heights: Vec<u32> = [1, 5, 20, 40]
        .into_iter()
        .map(|n| {
            let image = render("整改进度", &chinese(), &units(n, true));
            assert_eq!(image.width, WIDTH);
            image.height
        })
        .collect();
    assert_eq!(heights[0], MIN_HEIGHT, "one bar gets the minimum height");
    assert!(heights.windows(2).all(|w| w[0] <= w[1]), "{heights:?}");
    assert_eq!(heights[3] - heights[2], 20 * ROW_HEIGHT, "{heights:?}");
    assert!(
        heights[3] <= 1200,
        "40 bars stay a readable size: {heights:?}"
    );
}

#[test]
fn more_than_forty_units_are_capped_with_a_footnote() {
    let forty = render("整改进度", &chinese(), &units(40, true));
    let many = render("整改进度", &chinese(), &units(100, true));
    assert_eq!(many.height, forty.height + FOOTNOTE_HEIGHT);
    let footnote_rows = forty.height - BOTTOM_MARGIN..many.height;
    assert!(
        many.non_background(footnote_rows) > 100,
        "the footnote is drawn"
    );
}

#[test]
fn keeps_the_units_with_the_most_open_measures_in_their_order() {
    let bars = vec![
        bar("甲", 9, 1, 0),
        bar("乙", 0, 5, 0),
        bar("丙", 0, 3, 1),
        bar("丁", 0, 3, 0),
        bar("戊", 0, 7, 0),
    ];
    let kept: Vec<&str> = keep_most_open(&bars, 3)
        .iter()
        .map(|b| b.unit.as_str())
        .collect();
    // 戊 and 乙 have the most open; 丙 beats 丁 on red; the given order is kept.
    assert_eq!(kept, ["乙", "丙", "戊"]);
    assert_eq!(keep_most_open(&bars, 10).len(), 5);
}

#[test]
fn draws_the_segments_and_red_only_when_a_unit_has_red() {
    let plot = HEADER_HEIGHT..u32::MAX;
    let with_red = render("整改进度", &chinese(), &units(8, true));
    assert!(with_red.distinct_colors() > 20, "text is antialiased");
    assert!(with_red.non_background(0..with_red.height) > 20_000);
    assert!(with_red.count(plot.clone(), CLOSED_COLOR) > 1_000);
    assert!(with_red.count(plot.clone(), GREEN_COLOR) > 1_000);
    assert!(with_red.count(plot.clone(), RED_COLOR) > 500);
    assert_eq!(
        with_red.count(plot.clone(), YELLOW_COLOR),
        0,
        "no yellow light"
    );

    let without_red = render("整改进度", &chinese(), &units(8, false));
    assert!(without_red.count(plot.clone(), GREEN_COLOR) > 1_000);
    assert_eq!(without_red.count(plot, RED_COLOR), 0);
}

#[test]
fn each_light_has_its_own_colour_and_the_legend_counts_what_is_drawn() {
    // 2 closed, 3 green, 4 yellow, 1 red: the four segments are as long as their counts.
    let one = UnitBar {
        unit: "甲".into(),
        closed: 2,
        open: 8,
        yellow: 4,
        red: 1,
    };
    assert_eq!(one.green(), 3);
    let image = render("T", &english(), std::slice::from_ref(&one));
    let plot = HEADER_HEIGHT..u32::MAX;
    let per_measure = image.count(plot.clone(), CLOSED_COLOR) as f64 / 2.0;
    for (colour, n) in [(GREEN_COLOR, 3.0), (YELLOW_COLOR, 4.0), (RED_COLOR, 1.0)] {
        let drawn = image.count(plot.clone(), colour) as f64;
        assert!(
            (drawn / per_measure - n).abs() < 0.15,
            "{colour:?}: {drawn} pixels, {per_measure} a measure"
        );
    }
    // The legend's swatches sit in the header band, one per colour.
    let legend = 0..HEADER_HEIGHT;
    for colour in [CLOSED_COLOR, GREEN_COLOR, YELLOW_COLOR, RED_COLOR] {
        assert!(image.count(legend.clone(), colour) > 100, "{colour:?}");
    }
    // A legend's counts are the segments' own: one more yellow measure changes the legend
    // row as well as the bar.
    let more_yellow = UnitBar {
        yellow: 5,
        ..one.clone()
    };
    let other = render("T", &english(), &[more_yellow]);
    assert_ne!(
        image.pixels(legend.clone()).collect::<Vec<_>>(),
        other.pixels(legend).collect::<Vec<_>>()
    );
}

#[test]
fn red_is_stacked_inside_open_not_added_to_it() {
    // All open measures red: no green bar, and the bar is as long as closed + open.
    let all_red = render("T", &english(), &[bar("A", 4, 4, 4)]);
    let plot = HEADER_HEIGHT..u32::MAX;
    assert_eq!(all_red.count(plot.clone(), GREEN_COLOR), 0);
    let closed = all_red.count(plot.clone(), CLOSED_COLOR);
    let red = all_red.count(plot.clone(), RED_COLOR);
    assert!(
        closed > 0 && closed.abs_diff(red) * 20 < closed,
        "{closed} vs {red}"
    );

    // More red than open is read as all open measures red.
    let too_red = render("T", &english(), &[bar("A", 4, 4, 9)]);
    assert_eq!(too_red.rgb, all_red.rgb);
}

#[test]
fn chinese_titles_render_as_real_glyphs() {
    let bars = units(6, true);
    let first = render("整改工作进度", &chinese(), &bars);
    let second = render("督办事项统计", &chinese(), &bars);
    let title_rows = 0..TITLE_CENTER_Y as u32 * 2;
    assert!(first.non_background(title_rows.clone()) > 300);
    let title_bytes = |image: &Image| image.pixels(title_rows.clone()).collect::<Vec<_>>();
    assert_ne!(title_bytes(&first), title_bytes(&second));
    // Only the title differs.
    let rest = |image: &Image| {
        image
            .pixels(title_rows.end..image.height)
            .collect::<Vec<_>>()
    };
    assert!(rest(&first) == rest(&second));

    // Characters the font lacks all draw the same .notdef box, so equal-length titles of them
    // look alike: the difference above comes from real glyphs.
    let tofu_a = render("龘龘", &chinese(), &bars);
    let tofu_b = render("鱻䶮", &chinese(), &bars);
    assert!(tofu_a.rgb == tofu_b.rgb);
}

#[test]
fn the_bundled_font_covers_the_sample_ledger() {
    for text in ledger_strings() {
        assert_eq!(missing_glyphs(&text), Vec::<char>::new(), "in {text:?}");
    }
    let labels = chinese();
    for text in [
        &labels.closed,
        &labels.green,
        &labels.yellow,
        &labels.red,
        &labels.axis,
    ] {
        assert!(missing_glyphs(text).is_empty(), "{text}");
    }
    assert!(missing_glyphs("No data; 暂无数据，注：共57个单位。").is_empty());
}

#[test]
fn missing_glyphs_names_rare_characters_once() {
    assert_eq!(missing_glyphs("龘龘督办\n鱻"), vec!['龘', '鱻']);
    assert_eq!(
        missing_glyphs_with_font(BUNDLED_FONT, "𠀀办").expect("the font parses"),
        vec!['𠀀']
    );
    assert!(matches!(
        missing_glyphs_with_font(b"not a font", "办"),
        Err(ChartError::InvalidFont)
    ));
}

#[test]
fn empty_input_renders_a_no_data_chart() {
    let image = render("整改进度", &chinese(), &[]);
    assert_eq!((image.width, image.height), (WIDTH, MIN_HEIGHT));
    let body = HEADER_HEIGHT..image.height;
    assert!(image.non_background(body.clone()) > 100, "the no-data note");
    assert_eq!(image.count(body, RED_COLOR), 0);

    let english_image = render("Progress", &english(), &[]);
    assert_ne!(english_image.rgb, image.rgb);
}

#[test]
fn long_names_are_shortened_and_rendering_is_deterministic() {
    let long = "某某市某某区某某街道办事处综合行政执法队第一中队第二小组";
    let bars = [bar(long, 3, 2, 1), bar("短", 1, 1, 0)];
    let once = unit_bars_png("整改进度", &chinese(), &bars).expect("renders");
    let again = unit_bars_png("整改进度", &chinese(), &bars).expect("renders");
    assert_eq!(once, again);
    let image = Image::decode(&once);
    assert_eq!(image.width, WIDTH);

    let font = ChartFont::load(None).expect("the bundled font");
    let fitted = font.fit(LABEL_SIZE, long, 200.0);
    assert!(fitted.ends_with('…') && fitted.chars().count() < long.chars().count());
    assert!(font.width(LABEL_SIZE, &fitted) <= 200.0);
    assert_eq!(font.fit(LABEL_SIZE, "短", 200.0), "短");
}

#[test]
fn a_given_font_renders_like_the_bundled_one_and_bad_bytes_are_an_error() {
    let bars = units(3, true);
    let bundled = unit_bars_png("整改进度", &chinese(), &bars).expect("renders");
    let given = unit_bars_png_with_font(Some(BUNDLED_FONT), "整改进度", &chinese(), &bars)
        .expect("renders with a given font");
    assert_eq!(bundled, given);

    let bad = unit_bars_png_with_font(Some(b"not a font"), "整改进度", &chinese(), &bars);
    assert!(matches!(bad, Err(ChartError::InvalidFont)));
}
