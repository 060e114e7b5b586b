//! The protocol buffer messages of a TensorBoard event file, written by hand with
//! `prost` derives: only the fields polytask writes or reads, with the field numbers of
//! TensorBoard's `tensorboard/compat/proto/{event,summary,tensor,tensor_shape}.proto`.
//!
//! Fields are declared in field-number order so that the encoding is byte-for-byte the one
//! Python's protobuf produces (it serializes in field-number order; prost in declaration
//! order). `oneof` members are plain `optional` fields: the same bytes on the wire, and
//! unknown members (graphs, images, ...) are skipped when decoding.

/// `tensorboard.Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// `oneof what`: `"brain.Event:2"` in the first record of a file.
    #[prost(string, optional, tag = "3")]
    pub file_version: Option<String>,
    /// `oneof what`: the summary values logged at this step.
    #[prost(message, optional, tag = "5")]
    pub summary: Option<Summary>,
}

/// `tensorboard.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Summary {
    /// The values, one per tag.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorboard.Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SummaryValue {
    /// The tag (`charts/SPS`).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// `oneof value`: a scalar, as written by TF1 and `torch.utils.tensorboard`.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
    /// `oneof value`: a histogram.
    #[prost(message, optional, tag = "5")]
    pub histo: Option<HistogramProto>,
    /// `oneof value`: a tensor, interpreted by the plugin named in `metadata`.
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    /// Which plugin reads this value; TF2 writers send it only with a tag's first value.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// `tensorboard.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SummaryMetadata {
    /// The plugin that owns the value.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `tensorboard.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PluginData {
    /// `"scalars"`, `"text"`, `"histograms"`, ...
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// Plugin-specific; empty for the text plugin's version 0.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorboard.HistogramProto`: bucket `i` counts the values in
/// `(bucket_limit[i - 1], bucket_limit[i]]`; TensorBoard uses `min` and `max` as the outer
/// edges.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HistogramProto {
    /// The smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// The largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// How many values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Their sum.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// The sum of their squares.
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// The right edge of each bucket.
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// The count of each bucket.
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

/// `tensorboard.DataType` values used here.
pub(crate) mod dtype {
    /// `DT_FLOAT`.
    pub const FLOAT: i32 = 1;
    /// `DT_DOUBLE`.
    pub const DOUBLE: i32 = 2;
    /// `DT_STRING`.
    pub const STRING: i32 = 7;
}

/// `tensorboard.TensorProto` (numeric and string values only).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorProto {
    /// One of [`dtype`].
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// Present and empty for a scalar.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Little-endian packed values, an alternative to the typed fields below.
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    /// `DT_FLOAT` values.
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    /// `DT_DOUBLE` values.
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    /// `DT_STRING` values.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// `tensorboard.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeProto {
    /// The dimensions; none for a scalar.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<TensorShapeDim>,
}

/// `tensorboard.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeDim {
    /// The size of the dimension.
    #[prost(int64, tag = "1")]
    pub size: i64,
}
