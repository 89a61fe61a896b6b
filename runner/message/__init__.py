"""Message text: SMS encoding, length and segmentation, and GSM-7 transliteration."""
