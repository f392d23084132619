"""Data: data sets, locating and downloading them, splits and batches."""

from seqlearn.data.batching import IGNORE_INDEX as IGNORE_INDEX
from seqlearn.data.batching import ClassificationBatch as ClassificationBatch
from seqlearn.data.batching import NextTokenBatch as NextTokenBatch
from seqlearn.data.batching import NextTokenCollator as NextTokenCollator
from seqlearn.data.batching import TokenIds as TokenIds
from seqlearn.data.batching import collate_classification as collate_classification
from seqlearn.data.batching import collate_next_token as collate_next_token
from seqlearn.data.batching import pad_sequences as pad_sequences
from seqlearn.data.delimited import from_label_names as from_label_names
from seqlearn.data.delimited import read_delimited as read_delimited
from seqlearn.data.delimited import read_jsonl as read_jsonl
from seqlearn.data.delimited import read_labeled_file as read_labeled_file
from seqlearn.data.download import DataIntegrityError as DataIntegrityError
from seqlearn.data.download import DownloadError as DownloadError
from seqlearn.data.download import download_file as download_file
from seqlearn.data.download import safe_extract_zip as safe_extract_zip
from seqlearn.data.labeled_texts import LabeledTexts as LabeledTexts
from seqlearn.data.labeled_texts import read_category_folder as read_category_folder
from seqlearn.data.names import NAMES_CATEGORIES as NAMES_CATEGORIES
from seqlearn.data.names import NAMES_FILE_SHA256 as NAMES_FILE_SHA256
from seqlearn.data.names import NAMES_URL as NAMES_URL
from seqlearn.data.names import default_data_dir as default_data_dir
from seqlearn.data.names import download_names as download_names
from seqlearn.data.names import load_names as load_names
from seqlearn.data.names import names_dir as names_dir
from seqlearn.data.names import normalized_text_sha256 as normalized_text_sha256
from seqlearn.data.names import verify_names as verify_names
from seqlearn.data.sampler import LengthBucketSampler as LengthBucketSampler
from seqlearn.data.sampler import ShardedBatchSampler as ShardedBatchSampler
from seqlearn.data.sentiment import SST2_CATEGORIES as SST2_CATEGORIES
from seqlearn.data.sentiment import SST_CATEGORIES as SST_CATEGORIES
from seqlearn.data.sentiment import SentimentPhrase as SentimentPhrase
from seqlearn.data.sentiment import SentimentPhrases as SentimentPhrases
from seqlearn.data.sentiment_files import read_kaggle_tsv as read_kaggle_tsv
from seqlearn.data.sentiment_files import read_sentiment_file as read_sentiment_file
from seqlearn.data.split import check_classes as check_classes
from seqlearn.data.split import stratified_split as stratified_split
from seqlearn.data.sst import SST_FILE_SHA256 as SST_FILE_SHA256
from seqlearn.data.sst import SST_SENTENCE_COUNTS as SST_SENTENCE_COUNTS
from seqlearn.data.sst import SST_URL as SST_URL
from seqlearn.data.sst import download_sst as download_sst
from seqlearn.data.sst import load_sst as load_sst
from seqlearn.data.sst import sst_dir as sst_dir
from seqlearn.data.sst import verify_sst as verify_sst
from seqlearn.data.sst_trees import read_sst_trees as read_sst_trees
from seqlearn.data.streams import StreamBatch as StreamBatch
from seqlearn.data.streams import StreamBatches as StreamBatches

__all__ = [
    "IGNORE_INDEX",
    "NAMES_CATEGORIES",
    "NAMES_FILE_SHA256",
    "NAMES_URL",
    "SST2_CATEGORIES",
    "SST_CATEGORIES",
    "SST_FILE_SHA256",
    "SST_SENTENCE_COUNTS",
    "SST_URL",
    "ClassificationBatch",
    "DataIntegrityError",
    "DownloadError",
    "LabeledTexts",
    "LengthBucketSampler",
    "NextTokenBatch",
    "NextTokenCollator",
    "SentimentPhrase",
    "SentimentPhrases",
    "ShardedBatchSampler",
    "StreamBatch",
    "StreamBatches",
    "TokenIds",
    "check_classes",
    "collate_classification",
    "collate_next_token",
    "default_data_dir",
    "download_file",
    "download_names",
    "download_sst",
    "from_label_names",
    "load_names",
    "load_sst",
    "names_dir",
    "normalized_text_sha256",
    "pad_sequences",
    "read_category_folder",
    "read_delimited",
    "read_jsonl",
    "read_kaggle_tsv",
    "read_labeled_file",
    "read_sentiment_file",
    "read_sst_trees",
    "safe_extract_zip",
    "sst_dir",
    "stratified_split",
    "verify_names",
    "verify_sst",
]
